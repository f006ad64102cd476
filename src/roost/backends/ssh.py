"""The SSH backend: machines you already have (a lab server, an instance made by hand).

roost never powers such a machine off: ``stop`` ends the apps (its agent), ``down`` removes
roost's directory for the machine. Commands go over one multiplexed OpenSSH connection with
roost's own known_hosts; apps are reached through local port forwards. A host that cannot
reach a package index gets its packages as a wheelhouse pushed from this computer.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import ClassVar

from uv import find_uv_bin

from roost.backends.base import Backend, MachineTools, RsyncRoute
from roost.errors import BackendError, CommandTimeout, HostError, HostUnreachable
from roost.machine import MachineFacts, MachineRecord, MachineState
from roost.spec import HostSpec
from roost.ssh import hostkeys, tunnel
from roost.ssh.runner import SshRunner
from roost.ssh.target import SshTarget, resolve
from roost.sync import rsync

PROBE = ('printf "%s\\n" "$HOME" "$(uname -m)" "$(id -u)"; '
         'python3 -c \'import sys; print("%d.%d" % sys.version_info[:2])\' 2>/dev/null || echo none')
MARK = ".provisioned"


class SshBackend(Backend):
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

    def runner(self, record: MachineRecord) -> SshRunner:
        """Commands over the host's master connection."""
        return SshRunner(self.target(record))

    def provision(self, record: MachineRecord) -> MachineFacts:
        """Check the host key, probe the host (home, CPU, python3) and make roost's directory."""
        host, target = self.host_spec(record), self.target(record)
        hostkeys.ensure_known(target, expected=host.host_key, accept_new=self.accept_new_host_key)
        runner = self.runner(record)
        lines = runner.run(PROBE, timeout=target.connect_timeout + 20).stdout.split()
        user_home, arch, uid, python = lines[0], lines[1], lines[2], lines[3]
        if python == "none":
            raise HostError(host.address, "has no python3, which roost's agent needs",
                            hint="install it there (Debian/Ubuntu: sudo apt-get install -y python3)")
        home = f"{user_home}/.roost/machines/{record.name}"
        runner.run(f"umask 077 && mkdir -p {shlex.quote(home)}/home {shlex.quote(home)}/workdir "
                   f"{shlex.quote(home)}/logs {shlex.quote(home)}/venvs {shlex.quote(home)}/checkpoints && touch {shlex.quote(home)}/{MARK}")
        return record.facts.model_copy(update={
            "home": home, "runs_as_root": uid == "0", "host": host.address, "python_version": python, "arch": arch})

    def wait_ready(self, record: MachineRecord, timeout: float = 300.0) -> None:
        """An existing machine is ready once it answers (provision has just checked that)."""

    def _roost_root(self, record: MachineRecord) -> str:
        assert record.facts.home
        return record.facts.home.rsplit("/machines/", 1)[0]

    def tools(self, record: MachineRecord) -> MachineTools:
        """uv pushed from this computer (once per version); wheels pushed when the host is offline."""
        root = self._roost_root(record)
        local_uv = find_uv_bin()
        version = self._local_uv_version(local_uv)
        remote_uv = f"{root}/bin/uv-{version}"
        runner = self.runner(record)
        if not runner.run(["test", "-x", remote_uv], check=False).ok:
            rsync(self.rsync_route(record), local_uv, remote_uv, upload=True, timeout=600)
        if not self._installs_offline(record):
            return MachineTools(uv=remote_uv, uv_cache=f"{root}/cache/uv",
                                note=f"{record.facts.host} installs packages from the package index")
        return MachineTools(uv=remote_uv, uv_cache=f"{root}/cache/uv",
                            wheelhouse=lambda requirements: self._push_wheels(record, requirements),
                            note=f"{record.facts.host} cannot reach a package index (or 'installs: wheelhouse'): "
                                 "packages go there as a wheelhouse built on this computer")

    @staticmethod
    def _local_uv_version(uv: str) -> str:
        from roost.runner.local import LocalRunner

        return LocalRunner().run([uv, "--version"]).stdout.split()[1]

    def _installs_offline(self, record: MachineRecord) -> bool:
        mode = record.spec.installs
        if mode != "auto":
            return mode == "wheelhouse"
        # DNS only, 3 s: a host with no resolver or no route answers at once
        probe = self.runner(record).run("getent hosts pypi.org >/dev/null", timeout=10, check=False)
        return not probe.ok

    def _push_wheels(self, record: MachineRecord, requirements: Sequence[str]) -> str:
        from roost import wheelhouse

        assert record.facts.python_version and record.facts.arch
        local = wheelhouse.build(requirements, python_version=record.facts.python_version, arch=record.facts.arch)
        remote = f"{self._roost_root(record)}/wheelhouse"
        rsync(self.rsync_route(record), f"{local}/", f"{remote}/", upload=True, timeout=1800)
        return remote

    def raw_state(self, record: MachineRecord) -> str:
        """unreachable / no-roost-dir / creating / agent-running / agent-stopped."""
        if record.facts.home is None:
            return "no-roost-dir"
        home = shlex.quote(record.facts.home)
        try:
            found = self.runner(record).run(f"test -d {home} || echo gone; test -e {home}/{MARK} || echo new",
                                            timeout=self.target(record).connect_timeout + 10)
        except (HostUnreachable, CommandTimeout):
            return "unreachable"
        if "gone" in found.stdout:
            return "no-roost-dir"
        if "new" in found.stdout:
            return "creating"
        from roost.agent.client import AgentClient

        running = AgentClient(self.runner(record), record.facts.home).status().running
        return "agent-running" if running else "agent-stopped"

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
                raise BackendError(f"cannot remove roost's files from {exc.host}: it is unreachable",
                                   hint="run `roost down` again when the host is back") from None
        self.runner(record).close()

    def rsync_route(self, record: MachineRecord) -> RsyncRoute:
        """rsync over the same master connection."""
        target = self.target(record)
        return RsyncRoute(remote_shell=target.ssh_argv(), prefix=f"{target.label}:")

    def app_url(self, record: MachineRecord, port: int, path: str) -> str:
        """A local forward (started or reused) to the app's 127.0.0.1 port on the host."""
        local_port = tunnel.ensure_tunnel(record.name, self.target(record), port)
        return f"http://127.0.0.1:{local_port}{path}"
