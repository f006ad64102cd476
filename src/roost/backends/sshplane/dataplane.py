"""The SSH data plane shared by every backend whose machines are reached over SSH.

A backend that knows how to find a machine's :class:`SshTarget` gets, from this mixin,
the rest of the contract that only needs SSH: probing the machine, roost's directory on
it, uv and wheelhouse installs, rsync, app URLs through local forwards and the
roost-level state of the machine (directory present, agent running).
"""

from __future__ import annotations

import shlex
import threading
from abc import abstractmethod
from collections.abc import Sequence

from uv import find_uv_bin

from roost.agent.client import AgentClient
from roost.backends.sshplane import wheelhouse
from roost.errors import CommandTimeout, HostError, HostUnreachable
from roost.machine.record import MachineFacts, MachineRecord
from roost.machine.tools import MachineTools
from roost.transport.local import LocalRunner
from roost.transport.rsync import RsyncRoute, rsync
from roost.transport.ssh import tunnel
from roost.transport.ssh.runner import SshRunner
from roost.transport.ssh.target import SshTarget

MACHINE_DIRS = ("home", "workdir", "logs", "venvs", "checkpoints")
MARK = ".provisioned"


def probe_script(name: str) -> str:
    """One shell line: the machine's $HOME, CPU and uid, python3's version (``python3 -V``: the
    interpreter prints it before it starts up), then, when there is a python3, roost's directory
    for machine ``name``: one round trip where there were two."""
    home = f'"$HOME"/{shlex.quote(f".roost/machines/{name}")}'
    dirs = " ".join(f"{home}/{part}" for part in MACHINE_DIRS)
    return (
        'printf "%s\\n" "$HOME" "$(uname -m)" "$(id -u)"; '
        "python3 -V 2>/dev/null || { echo none; exit 0; }; "
        f"umask 077 && mkdir -p {dirs} && touch {home}/{MARK}"
    )


class SshDataPlane:
    """Everything a backend does over SSH once it can name the machine's target."""

    @abstractmethod
    def target(self, record: MachineRecord) -> SshTarget:
        """Where and as whom to connect for this machine."""

    def ssh_target(self, record: MachineRecord) -> SshTarget:
        """The machine's SSH target (see :meth:`target`)."""
        return self.target(record)

    def runner(self, record: MachineRecord) -> SshRunner:
        """Commands over the machine's master connection."""
        return SshRunner(self.target(record))

    def probe_and_prepare(self, record: MachineRecord, label: str) -> MachineFacts:
        """Probe the machine (home, CPU, python3) and make roost's directory for it there."""
        target = self.target(record)
        runner = self.runner(record)
        lines = runner.run(probe_script(record.name), timeout=target.connect_timeout + 20).stdout.split()
        user_home, arch, uid = lines[0], lines[1], lines[2]
        python = ".".join(lines[4].split(".")[:2]) if len(lines) > 4 and lines[3] == "Python" else "none"
        if python == "none":
            raise HostError(
                label,
                "has no python3, which roost's agent needs",
                hint="install it there (Debian/Ubuntu: sudo apt-get install -y python3)",
            )
        home = f"{user_home}/.roost/machines/{record.name}"
        return record.facts.model_copy(
            update={"home": home, "runs_as_root": uid == "0", "host": label, "python_version": python, "arch": arch}
        )

    def _roost_root(self, record: MachineRecord) -> str:
        assert record.facts.home
        return record.facts.home.rsplit("/machines/", 1)[0]

    def tools(self, record: MachineRecord) -> MachineTools:
        """uv pushed from this computer (once per version); wheels pushed when the host is offline."""
        root = self._roost_root(record)
        local_uv = find_uv_bin()
        version = _local_uv_version(local_uv)
        remote_uv = f"{root}/bin/uv-{version}"
        runner = self.runner(record)
        with _one_push_at_a_time(self.rsync_route(record).prefix + remote_uv):
            if not runner.run(["test", "-x", remote_uv], check=False).ok:
                rsync(self.rsync_route(record), local_uv, remote_uv, upload=True, timeout=600)
        label = record.facts.host or record.name
        if not self._installs_offline(record):
            return MachineTools(
                uv=remote_uv, uv_cache=f"{root}/cache/uv", note=f"{label} installs packages from the package index"
            )
        return MachineTools(
            uv=remote_uv,
            uv_cache=f"{root}/cache/uv",
            wheelhouse=lambda requirements: self._push_wheels(record, requirements),
            note=f"{label} cannot reach a package index (or 'installs: wheelhouse'): "
            "packages go there as a wheelhouse built on this computer",
        )

    def _installs_offline(self, record: MachineRecord) -> bool:
        mode = record.spec.installs
        if mode != "auto":
            return mode == "wheelhouse"
        # DNS only, 3 s: a host with no resolver or no route answers at once
        probe = self.runner(record).run("getent hosts pypi.org >/dev/null", timeout=10, check=False)
        return not probe.ok

    def _push_wheels(self, record: MachineRecord, requirements: Sequence[str]) -> str:
        assert record.facts.arch
        # the full version: markers such as python_full_version < '3.11.3' must resolve as on the host
        full = (
            self.runner(record)
            .run(["python3", "-c", "import platform; print(platform.python_version())"], timeout=30)
            .stdout.strip()
        )
        local = wheelhouse.build(requirements, python_version=full, arch=record.facts.arch)
        remote = f"{self._roost_root(record)}/wheelhouse"
        with _one_push_at_a_time(self.rsync_route(record).prefix + remote):
            rsync(self.rsync_route(record), f"{local}/", f"{remote}/", upload=True, timeout=1800)
        return remote

    def roost_dir_state(self, record: MachineRecord) -> str:
        """unreachable / no-roost-dir / creating / agent-running / agent-stopped."""
        if record.facts.home is None:
            return "no-roost-dir"
        home = shlex.quote(record.facts.home)
        try:
            found = self.runner(record).run(
                f"test -d {home} || echo gone; test -e {home}/{MARK} || echo new",
                timeout=self.target(record).connect_timeout + 10,
            )
        except (HostUnreachable, CommandTimeout):
            return "unreachable"
        if "gone" in found.stdout:
            return "no-roost-dir"
        if "new" in found.stdout:
            return "creating"
        running = AgentClient(self.runner(record), record.facts.home).status().running
        return "agent-running" if running else "agent-stopped"

    def rsync_route(self, record: MachineRecord) -> RsyncRoute:
        """rsync over the same master connection."""
        target = self.target(record)
        return RsyncRoute(remote_shell=target.ssh_argv(), prefix=f"{target.label}:")

    def app_url(self, record: MachineRecord, port: int, path: str) -> str:
        """A local forward (started or reused) to the app's 127.0.0.1 port on the machine."""
        local_port = tunnel.ensure_tunnel(record.name, self.target(record), port)
        return f"http://127.0.0.1:{local_port}{path}"


def _local_uv_version(uv: str) -> str:
    return LocalRunner().run([uv, "--version"]).stdout.split()[1]


_PUSHES: dict[str, threading.Lock] = {}
_PUSHES_GUARD = threading.Lock()


def _one_push_at_a_time(destination: str) -> threading.Lock:
    """The lock of one destination on one host: machines of a host brought up side by side
    share its uv and wheelhouse, and two rsyncs into one file would share its partial file."""
    with _PUSHES_GUARD:
        return _PUSHES.setdefault(destination, threading.Lock())
