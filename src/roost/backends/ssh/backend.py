"""The SSH backend: machines you already have (a lab server, an instance made by hand).

roost never powers such a machine off: ``stop`` ends the apps (its agent), ``down`` removes
roost's directory for the machine. Commands go over one multiplexed OpenSSH connection with
roost's own known_hosts; apps are reached through local port forwards. A host that cannot
reach a package index gets its packages as a wheelhouse pushed from this computer.
"""

from __future__ import annotations

from typing import ClassVar

from roost.backends.base import Backend
from roost.backends.sshplane.dataplane import SshDataPlane
from roost.errors import BackendError, HostUnreachable
from roost.machine.record import MachineFacts, MachineRecord, MachineState
from roost.spec.model import HostSpec
from roost.transport.ssh import hostkeys, tunnel
from roost.transport.ssh.target import SshTarget, resolve


class SshBackend(SshDataPlane, Backend):
    """Machines reached over SSH; roost's files live in ``~/.roost`` on the host."""

    kind = "ssh"
    STATE_MAP: ClassVar[dict[str, MachineState]] = {
        "unreachable": MachineState.UNREACHABLE,
        "no-roost-dir": MachineState.TERMINATED,
        "creating": MachineState.PROVISIONING,
        "agent-running": MachineState.RUNNING,
        "agent-stopped": MachineState.STOPPED,
    }

    def __init__(self, *, accept_new_host_key: bool = False) -> None:
        self.accept_new_host_key = accept_new_host_key
        self._targets: dict[str, SshTarget] = {}

    def host_spec(self, record: MachineRecord) -> HostSpec:
        """The host this machine uses: the one recorded, else the spec's first."""
        hosts = record.spec.hosts
        return next((h for h in hosts if h.address == record.facts.host), hosts[0])

    def target(self, record: MachineRecord) -> SshTarget:
        """The resolved SSH target (resolved once per backend object)."""
        host = self.host_spec(record)
        if host.address not in self._targets:
            self._targets[host.address] = resolve(host)
        return self._targets[host.address]

    def provision(self, record: MachineRecord) -> MachineFacts:
        """Check the host key, probe the host (home, CPU, python3) and make roost's directory."""
        host, target = self.host_spec(record), self.target(record)
        hostkeys.ensure_known(target, expected=host.host_key, accept_new=self.accept_new_host_key)
        return self.probe_and_prepare(record, host.address)

    def wait_ready(self, record: MachineRecord, timeout: float = 300.0) -> None:
        """An existing machine is ready once it answers (provision has just checked that)."""

    def raw_state(self, record: MachineRecord) -> str:
        """unreachable / no-roost-dir / creating / agent-running / agent-stopped."""
        return self.roost_dir_state(record)

    def stop(self, record: MachineRecord) -> None:
        """roost does not power off a machine it did not create; the apps are stopped."""
        tunnel.close_tunnel(record.name)

    def start(self, record: MachineRecord) -> None:
        """The machine is the user's to power on; nothing to do here."""

    def terminate(self, record: MachineRecord) -> None:
        """Remove roost's directory for this machine (shared caches stay) and close connections."""
        tunnel.close_tunnel(record.name, forget=True)
        if record.facts.home:
            try:
                self.runner(record).run(["rm", "-rf", "--", record.facts.home], timeout=120)
            except HostUnreachable as exc:
                raise BackendError(
                    f"cannot remove roost's files from {exc.host}: it is unreachable",
                    hint="run `roost down` again when the host is back",
                ) from None
        self.runner(record).close()
