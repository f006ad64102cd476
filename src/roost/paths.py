"""Where roost keeps its own files on the client (``$ROOST_HOME``, default ``~/.roost``)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TypeGuard

from roost.errors import RoostError, UnsafeName


def roost_home() -> Path:
    """The client-side home: state DB, locks, secrets, local machines, caches."""
    home = Path(os.environ.get("ROOST_HOME") or Path.home() / ".roost").expanduser()
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise RoostError(
            f"cannot use {home} as roost's home: {exc.strerror}",
            hint="point ROOST_HOME at a directory you can write (or unset it for ~/.roost)",
        ) from None
    if home.stat().st_mode & 0o077:  # made before, or by someone else's umask: ours alone
        home.chmod(0o700)
    return home


def write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename), created
    with ``mode`` (0600: readable by this user only) so it is never briefly readable by others.
    The temporary file's name is unique, so threads or processes writing the same path at once
    never rename each other's file away (the last rename wins, whole)."""
    temporary = _write_temporary(path, data, mode)
    os.replace(temporary, path)


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bytes:
    """Create ``path`` with ``data`` unless it exists, and return what it holds: when several
    threads or processes create it at once, one of them wins and every caller reads the winner's
    content (a hard link of a whole temporary file: never a half-written or second value)."""
    if not path.exists():
        temporary = _write_temporary(path, data, mode)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_bytes()


def _write_temporary(path: Path, data: bytes, mode: int) -> Path:
    import tempfile  # here: the quick CLI imports this module and never writes

    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``PATH.lock`` for the block: threads and processes that
    rewrite one of roost's shared files (known_hosts) take turns; the kernel lets go if the
    holder dies."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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


# Names roost writes itself (backup ids, job ids, file names in a manifest): letters, digits,
# dot, dash, underscore; never starting with a dot, so never "." or "..", never a path.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_safe_name(name: object) -> TypeGuard[str]:
    """True when ``name`` is a str that can be one path part and nothing else."""
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def safe_name(name: object, what: str, source: str) -> str:
    """``name`` when it is safe as one path part; UnsafeName naming ``what`` and its ``source`` otherwise."""
    if not is_safe_name(name):
        raise UnsafeName(
            f"refusing {what} {name!r} from {source}: not a plain name (letters, digits, '.', '-', '_')",
            hint="it did not come from roost; check who else writes there",
        )
    return str(name)


def inside(folder: Path, name: str, what: str, source: str) -> Path:
    """``folder / name`` for a safe ``name``, checked to resolve inside ``folder``."""
    target = folder / safe_name(name, what, source)
    if not target.resolve().is_relative_to(folder.resolve()):
        raise UnsafeName(f"refusing {what} {name!r} from {source}: it leads outside {folder}")
    return target
