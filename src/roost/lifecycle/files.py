"""Verbs on a running machine: sync files up, download outputs, run a command.

``sync`` holds the machine's lock, since it writes the workdir that ``up`` writes too;
``exec`` and ``download`` do not, so that they work while a long ``up`` or job runs (they
change nothing roost itself keeps)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from roost.errors import BackendError
from roost.machine.state import machine_lock
from roost.session import MachineSession, load_session
from roost.transfer import download as pull
from roost.transfer import push_files
from roost.transport.base import Result, command_text
from roost.transport.script import run_script
from roost.transport.ssh.remote import LONG_COMMAND_BYTES


def _session(name: str) -> MachineSession:
    session = load_session(name)
    if session.record.facts.home is None:
        raise BackendError(f"machine '{name}' was never provisioned", hint=f"run `roost up` for '{name}' first")
    return session


def sync(name: str) -> None:
    """Upload the spec's workdir and file_mounts to the machine now."""
    with machine_lock(name):
        push_files(_session(name))


def download(name: str, path: str, destination: str | Path | None = None) -> Path:
    """Copy ``path`` from the machine's workdir to ``destination`` (default ./roost-outputs/NAME)."""
    return pull(_session(name), path, destination or Path("roost-outputs") / name)


def exec_command(
    name: str, command: list[str] | str, *, on_output: Callable[[str], None] | None = None, timeout: float | None = None
) -> Result:
    """Run a command in the machine's workdir; returns its Result (its exit code, not raised)."""
    session = _session(name)
    runner, cwd = session.runner, f"{session.record.facts.home}/workdir"
    text = command_text(command)
    if len(text.encode()) > LONG_COMMAND_BYTES:  # past what one argument may hold: it travels on stdin
        return run_script(runner, text, cwd=cwd, timeout=timeout, check=False, on_output=on_output)
    return runner.run(command, cwd=cwd, timeout=timeout, check=False, on_output=on_output)
