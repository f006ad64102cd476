"""``roost ssh`` and ``~/.roost/ssh/config``: plain ssh, scp, rsync and VS Code reach roost's machines.

roost keeps one ``Host roost-NAME`` block per machine it reaches over SSH in its own file,
rewritten by ``up``/``start`` and dropped by ``down``; ``roost ssh-config --install`` adds one
``Include`` line for that file to ``~/.ssh/config`` and touches nothing else there.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from roost.errors import RoostError
from roost.machine.state import State, machine_lock
from roost.paths import write_private
from roost.session import MachineSession, open_session
from roost.transport.ssh.aliases import ALIAS_PREFIX, MARK, config_path

CONFIG_LOCK = ".ssh-config"  # a lock name no machine has (names never start with a dot)


def _blocks() -> dict[str, str]:
    """The file's blocks by machine name."""
    path = config_path()
    text = path.read_text() if path.exists() else ""
    found: dict[str, str] = {}
    for chunk in text.split(MARK)[1:]:
        name, _, body = chunk.partition("\n")
        found[name.strip()] = body
    return found


def _write(blocks: dict[str, str]) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(path, "".join(f"{MARK}{name}\n{body}" for name, body in sorted(blocks.items())).encode())
    return path


def keep_block(session: MachineSession) -> None:
    """Write (or rewrite) the machine's block; a machine without SSH (local) has none."""
    target = session.backend.ssh_target(session.record)
    with machine_lock(CONFIG_LOCK):  # machines come up side by side, and other roosts run
        blocks = _blocks()
        if target is None:
            if blocks.pop(session.record.name, None) is not None:
                _write(blocks)
            return
        blocks[session.record.name] = target.config_block(ALIAS_PREFIX + session.record.name) + "\n"
        _write(blocks)


def drop_block(name: str) -> None:
    """Remove the machine's block (it is gone)."""
    with machine_lock(CONFIG_LOCK):
        blocks = _blocks()
        if blocks.pop(name, None) is not None:
            _write(blocks)


def ssh_argv(name: str, command: list[str]) -> list[str]:
    """The command that opens a shell (or runs ``command``) in the machine's workdir, checking
    its pinned host key; for a local machine, a shell in its folder."""
    state = State()
    try:
        session = open_session(state, name)
        home = session.record.facts.home
        if home is None:
            raise RoostError(f"machine '{name}' was never brought up", hint=f"run `roost up` for '{name}'")
        target = session.backend.ssh_target(session.record)
        if target is not None:
            keep_block(session)
    finally:
        state.close()
    workdir = f"{home}/workdir"
    inner = f"cd {shlex.quote(workdir)} && " + (shlex.join(command) if command else 'exec "${SHELL:-/bin/sh}" -l')
    if target is None:
        return ["/bin/sh", "-c", inner]
    return ["ssh", "-F", str(config_path()), *(["-t"] if not command else []), ALIAS_PREFIX + name, inner]


def install_include(ssh_config: Path | None = None) -> tuple[Path, bool]:
    """Add ``Include ~/.roost/ssh/config`` at the top of ``~/.ssh/config`` (once); the file and
    whether it changed. Nothing else in it is touched."""
    path = ssh_config or Path.home() / ".ssh" / "config"
    line = f"Include {config_path()}"
    text = path.read_text() if path.exists() else ""
    if re.search(rf"^\s*Include\s+{re.escape(str(config_path()))}\s*$", text, re.MULTILINE):
        return path, False
    path.parent.mkdir(mode=0o700, exist_ok=True)
    if not config_path().exists():
        _write({})
    # first: an Include after a Host line would belong to that host only; the file keeps its mode
    header = f"# added by roost (`roost ssh-config --install`): its machines as roost-NAME\n{line}\n"
    write_private(path, (header + text).encode(), mode=path.stat().st_mode & 0o777 if path.exists() else 0o600)
    return path, True
