"""rsync between this computer and a machine, over the machine's own connection.

Uploads respect ``.gitignore`` and ``.roostignore`` files and never leave a half-written
file in place: rsync writes each file beside its target and, with ``--delay-updates``,
renames all of them into place only at the end of the transfer.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from roost.progress import Meter, transfer
from roost.transport.base import Result
from roost.transport.local import LocalRunner

IGNORE_FILTERS = ["--filter=:- .gitignore", "--filter=:- .roostignore", "--exclude=.git/"]


@dataclass(frozen=True)
class RsyncRoute:
    """How rsync reaches a machine: the remote shell (None = this computer) and path prefix."""

    remote_shell: list[str] | None
    prefix: str


def rsync(
    route: RsyncRoute,
    source: str,
    destination: str,
    *,
    upload: bool,
    ignore_files: bool = False,
    delete: bool = False,
    timeout: float = 3600,
) -> Result:
    """Copy ``source`` to ``destination`` (trailing slashes as rsync means them); raise on failure."""
    # --modify-window=-1: compare mtimes to the nanosecond, so an edit within the same second syncs
    argv = ["rsync", "-a", "--modify-window=-1", "--delay-updates", "--partial-dir=.roost-partial", "--mkpath"]
    if route.remote_shell is not None:
        argv += ["-e", shlex.join(route.remote_shell)]
    if ignore_files:
        argv += IGNORE_FILTERS
    if delete:
        argv.append("--delete-after")
    remote_side = lambda path: route.prefix + path
    src, dst = (source, remote_side(destination)) if upload else (remote_side(source), destination)
    with transfer(f"{'upload' if upload else 'download'} {Path(source.rstrip('/')).name}") as meter:
        on_output = None
        if meter is not None:
            meter(0, None)
            # the whole list first (--no-inc-recursive), so the percentage is of every byte to send
            argv += ["--info=progress2", "--no-inc-recursive"]
            on_output = lambda line: _report(line, meter)
        return LocalRunner().run([*argv, src, dst], timeout=timeout, on_output=on_output).check(f"rsync {src} → {dst}")


_PROGRESS_LINE = re.compile(r"^\s*([\d,.']+)\s+(\d{1,3})%")


def _report(line: str, meter: Meter) -> None:
    """Pass one of rsync's ``--info=progress2`` lines (``  1,234,567  45%  12.3MB/s ...``) on."""
    found = _PROGRESS_LINE.match(line)
    if found is None:
        return
    done, percent = int(re.sub(r"\D", "", found.group(1))), int(found.group(2))
    meter(done, done * 100 // percent if percent else None)


def upload_tree(route: RsyncRoute, local_dir: str | Path, remote_dir: str) -> Result:
    """Mirror a local directory's contents into ``remote_dir`` (ignore files respected)."""
    return rsync(route, str(local_dir).rstrip("/") + "/", remote_dir.rstrip("/") + "/", upload=True, ignore_files=True)
