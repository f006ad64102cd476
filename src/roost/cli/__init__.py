"""roost's command line: parse, call the library, render. No logic lives here.

One small module per group of commands (``*_cmds.py``); each command is a module-level
function over one library verb of :mod:`roost`.
"""

from __future__ import annotations

import sys

import typer

from roost.cli import (
    backup_cmds,
    cloud_cmds,
    files_cmds,
    info_cmds,
    jobs_cmds,
    lifecycle_cmds,
    offers_cmds,
    serve_cmds,
    share_cmds,
)
from roost.cli.render import error
from roost.errors import RoostError

app = typer.Typer(
    name="roost",
    help="Host ML tools and run training jobs on this computer, SSH machines and AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for group in (
    lifecycle_cmds,
    info_cmds,
    files_cmds,
    jobs_cmds,
    offers_cmds,
    share_cmds,
    cloud_cmds,
    backup_cmds,
    serve_cmds,
):
    group.register(app)


def main() -> None:
    """Entry point: run a command; a RoostError becomes a message and exit code 1."""
    try:
        app()
    except RoostError as exc:
        error(str(exc))
        sys.exit(exc.exit_code)
