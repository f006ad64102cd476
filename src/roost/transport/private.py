"""A folder on a machine that only roost's user can enter, checked before anything is put in it.

Unix sockets (PostgreSQL's, Caddy's admin API) live in such a folder: under roost's home, or
under /tmp when that path is too long for a socket. A folder under /tmp may have been made
first by someone else (``mkdir -p`` keeps it), or be a link to theirs, so it is checked with
``lstat`` after it is made: a real directory, owned by this user, mode 0700, else refused.
"""

from __future__ import annotations

from roost.errors import HostError
from roost.transport.base import Runner

MAKE_PRIVATE = r"""
import os, stat, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
try:
    os.mkdir(path, 0o700)
except FileExistsError:
    pass
info = os.lstat(path)
if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
    sys.exit(f"{path} is not a directory roost made (a link or a file is there)")
if info.st_uid != os.getuid():
    sys.exit(f"{path} belongs to user id {info.st_uid}, not to roost's user ({os.getuid()})")
if stat.S_IMODE(info.st_mode) != 0o700:
    sys.exit(f"{path} has mode {stat.S_IMODE(info.st_mode):o}, not 700")
"""


def ensure_private_dir(runner: Runner, path: str) -> str:
    """Make ``path`` (mode 0700) on the runner's machine, or find it there already made by this
    user with mode 0700; HostError naming it otherwise (nothing is put in it)."""
    result = runner.run([runner.python, "-c", MAKE_PRIVATE, path], timeout=30, check=False)
    if not result.ok:
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        raise HostError(
            runner.label,
            f"refuses to use {path} for roost's sockets: {reason}",
            hint=f"remove {path} on the machine (someone else may have made it) and run again",
        )
    return path
