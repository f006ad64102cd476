"""roost's own ssh config (``~/.roost/ssh/config``): one ``Host roost-NAME`` block per machine
it reaches over SSH, each after a ``# roost machine NAME`` line. lifecycle/ssh_access.py writes
it; plain ssh, VS Code and the quick ``roost exec`` read it. Standard library only."""

from __future__ import annotations

from pathlib import Path

from roost.paths import roost_home

MARK = "# roost machine "
ALIAS_PREFIX = "roost-"


def config_path() -> Path:
    """roost's ssh config (``~/.roost/ssh/config``)."""
    return roost_home() / "ssh" / "config"


def has_block(name: str) -> bool:
    """True when the file holds the machine's block."""
    path = config_path()
    return path.is_file() and f"{MARK}{name}\n" in path.read_text()
