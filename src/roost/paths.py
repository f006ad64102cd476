"""Where roost keeps its own files on the client (``$ROOST_HOME``, default ``~/.roost``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def roost_home() -> Path:
    """The client-side home: state DB, locks, secrets, local machines, caches."""
    home = Path(os.environ.get("ROOST_HOME") or Path.home() / ".roost").expanduser()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    return home


def cache_dir() -> Path:
    """Caches that may be shared between ROOST_HOMEs (``ROOST_CACHE_DIR``, default ROOST_HOME/cache)."""
    explicit = os.environ.get("ROOST_CACHE_DIR")
    path = Path(explicit) if explicit else roost_home() / "cache"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def uv_cache_dir() -> Path:
    """The uv cache shared by every local machine (``UV_CACHE_DIR`` wins when set)."""
    explicit = os.environ.get("UV_CACHE_DIR")
    return Path(explicit) if explicit else cache_dir() / "uv"


SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes; leave room for the socket's own name


def short_socket_dir(home: str, purpose: str) -> str:
    """A directory on a machine for unix sockets: under roost's ``home`` there, or under /tmp
    (named by a hash of the home) when that path is too long for a socket."""
    preferred = f"{home}/run/{purpose}"
    if len(preferred) + 20 <= SOCKET_PATH_LIMIT:
        return preferred
    return f"/tmp/roost-{purpose}-{hashlib.sha256(home.encode()).hexdigest()[:16]}"
