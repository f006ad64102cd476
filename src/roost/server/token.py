"""The server's login token and where a running server says it is, under ROOST_HOME/server."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel

from roost.paths import roost_home, write_private


class ServerInfo(BaseModel):
    """A running server: its URL (never with the token) and its process."""

    url: str
    pid: int


def server_dir() -> Path:
    """ROOST_HOME/server, made private (0700) if it is not there yet."""
    folder = roost_home() / "server"  # roost_home is 0700: nothing inside is reachable by others
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def login_token() -> str:
    """The token that logs in to this ROOST_HOME's server (made once, kept 0600)."""
    path = server_dir() / "token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    write_private(path, token.encode())
    return token


def note_running(info: ServerInfo) -> None:
    """Say where this server listens, for ``roost dashboard``."""
    write_private(server_dir() / "running.json", info.model_dump_json().encode())


def forget_running(pid: int) -> None:
    """Remove the note of a server that stops (only the note this process wrote)."""
    found = running()
    if found is not None and found.pid == pid:
        (server_dir() / "running.json").unlink(missing_ok=True)


def running() -> ServerInfo | None:
    """The server that last said it runs here, if its process is still alive."""
    path = server_dir() / "running.json"
    try:
        info = ServerInfo.model_validate(json.loads(path.read_text()))
        os.kill(info.pid, 0)
    except (OSError, ValueError):
        return None
    return info
