"""How every CLI command ends, typer's or the quick paths': a RoostError becomes its message and
exit code; anything else is a bug in roost, whose traceback is printed and kept in a crash log."""

from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from roost.cli.render import PROGRESS, error
from roost.errors import RoostError
from roost.paths import roost_home
from roost.progress import reporting

BUG_EXIT = 70  # EX_SOFTWARE: roost itself went wrong, not the input


def run_reported(command: Callable[[], object]) -> int:
    """Run ``command``; its exit code: 0, a RoostError's (after its message), or BUG_EXIT (after
    the traceback, kept in ROOST_HOME/logs). SystemExit (typer's own ending) passes through."""
    try:
        with reporting(PROGRESS):  # transfers outside any step (backups, outputs) show their bytes too
            command()
        return 0
    except RoostError as exc:
        error(str(exc))
        return exc.exit_code
    except Exception:
        log = _keep_crash(traceback.format_exc())
        traceback.print_exc()
        error(
            "this is a bug in roost, not a problem with what you asked for; "
            f"the traceback above is also in {log}. Please report it with that file."
        )
        return BUG_EXIT


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` as ``sys.exit`` would, less Python's teardown of every module
    (0.05-0.15 s after a command that loaded pydantic and roost's models, paid by every command
    and by scripts that run roost in loops). Only when no other thread runs (else ``sys.exit``,
    which waits for them); the exit hooks (atexit, pending finalizers) still run, and the
    output streams are flushed first."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: what was written is all there is
            pass
    os._exit(code)


def _keep_crash(text: str) -> str:
    """Write a crash's traceback to ROOST_HOME/logs (or the temp folder when that fails); its path."""
    name = f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    try:
        folder = roost_home() / "logs"
        folder.mkdir(mode=0o700, exist_ok=True)
    except (OSError, RoostError):
        folder = Path(tempfile.gettempdir())
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"roost {' '.join(sys.argv[1:])}\n{text}")
    return str(path)
