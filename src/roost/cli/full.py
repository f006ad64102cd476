"""The full command line (typer): every command, one small module per group of them
(``*_cmds.py``), each a module-level function over one library verb of :mod:`roost`."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import typer

from roost.cli import (
    access_cmds,
    backup_cmds,
    cloud_cmds,
    files_cmds,
    info_cmds,
    jobs_cmds,
    lifecycle_cmds,
    offers_cmds,
    serve_cmds,
    server_cmds,
    share_cmds,
)
from roost.cli.render import PROGRESS, error, set_quiet
from roost.errors import RoostError
from roost.paths import roost_home
from roost.progress import reporting

app = typer.Typer(
    name="roost",
    help="Host ML tools and run training jobs on this computer, SSH machines and AWS.",
    no_args_is_help=True,
    add_completion=True,  # roost --install-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no live progress display: one line per finished step (as when piped)"
    ),
) -> None:
    """Host ML tools and run training jobs on this computer, SSH machines and AWS."""
    set_quiet(quiet)


for group in (
    access_cmds,
    lifecycle_cmds,
    info_cmds,
    files_cmds,
    jobs_cmds,
    offers_cmds,
    share_cmds,
    cloud_cmds,
    backup_cmds,
    serve_cmds,
    server_cmds,
):
    group.register(app)


BUG_EXIT = 70  # EX_SOFTWARE: roost itself went wrong, not the input


def main() -> None:
    """Run a command; a RoostError becomes a message and exit code 1. Anything
    else is a bug in roost: its traceback is printed and kept in a crash log, and it says so."""
    try:
        with reporting(PROGRESS):  # transfers outside any step (backups, outputs) show their bytes too
            app()
    except RoostError as exc:
        error(str(exc))
        sys.exit(exc.exit_code)
    except Exception:
        log = _keep_crash(traceback.format_exc())
        traceback.print_exc()
        error(
            "this is a bug in roost, not a problem with what you asked for; "
            f"the traceback above is also in {log}. Please report it with that file."
        )
        sys.exit(BUG_EXIT)


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
