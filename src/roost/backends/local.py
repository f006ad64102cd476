"""The local backend: a "machine" is a directory on this computer.

``$ROOST_HOME/machines/NAME`` holds the machine's home, venvs, logs and data. Its
processes are the agent's, each in its own session; stopping ends them and keeps the
directory, terminating deletes it. Needs no account and no network: the default.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import ClassVar

from uv import find_uv_bin

from roost.agent.client import AgentClient
from roost.backends.base import Backend
from roost.machine.record import MachineFacts, MachineRecord, MachineState
from roost.machine.tools import MachineTools
from roost.paths import roost_home, uv_cache_dir
from roost.transport.local import LocalRunner
from roost.transport.rsync import RsyncRoute

PROVISIONED_MARK = ".provisioned"
SUBDIRS = ("home", "workdir", "logs", "venvs", "checkpoints")


class LocalBackend(Backend):
    """Machines that are directories on this computer."""

    kind = "local"
    STATE_MAP: ClassVar[dict[str, MachineState]] = {
        "absent": MachineState.TERMINATED,
        "creating": MachineState.PROVISIONING,
        "agent-running": MachineState.RUNNING,
        "agent-stopped": MachineState.STOPPED,
    }

    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or roost_home()) / "machines"

    def machine_dir(self, name: str) -> Path:
        """The directory that is the machine."""
        return self.root / name

    def provision(self, record: MachineRecord) -> MachineFacts:
        """Create the machine's directory tree (0700); keep an existing one as it is."""
        base = self.machine_dir(record.name)
        self.root.mkdir(mode=0o700, exist_ok=True)
        for sub in SUBDIRS:
            (base / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(base, 0o700)
        (base / PROVISIONED_MARK).touch()
        return record.facts.model_copy(update={"home": str(base), "runs_as_root": os.geteuid() == 0})

    def wait_ready(self, record: MachineRecord, timeout: float = 300.0) -> None:
        """This computer is always ready."""

    def runner(self, record: MachineRecord) -> LocalRunner:
        """Commands run here, starting in the machine's directory."""
        return LocalRunner(cwd=str(self.machine_dir(record.name)))

    def tools(self, record: MachineRecord) -> MachineTools:
        """uv from roost's own installation and one cache shared by every local machine."""
        cache = uv_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        return MachineTools(uv=find_uv_bin(), uv_cache=str(cache))

    def raw_state(self, record: MachineRecord) -> str:
        """absent / creating / agent-running / agent-stopped, from the directory and agent pid."""
        base = self.machine_dir(record.name)
        if not base.exists():
            return "absent"
        if not (base / PROVISIONED_MARK).exists():
            return "creating"
        running = AgentClient(self.runner(record), str(base)).status().running
        return "agent-running" if running else "agent-stopped"

    def stop(self, record: MachineRecord) -> None:
        """Nothing beyond the agent's stop: this computer keeps running."""

    def start(self, record: MachineRecord) -> None:
        """Nothing beyond the agent's start: this computer is on."""

    def terminate(self, record: MachineRecord) -> None:
        """Delete the machine's directory and everything in it."""
        shutil.rmtree(self.machine_dir(record.name), ignore_errors=True)

    def rsync_route(self, record: MachineRecord) -> RsyncRoute:
        """rsync copies within this computer."""
        return RsyncRoute(remote_shell=None, prefix="")

    def app_url(self, record: MachineRecord, port: int, path: str) -> str:
        """The app listens on this computer's 127.0.0.1 already."""
        return f"http://127.0.0.1:{port}{path}"
