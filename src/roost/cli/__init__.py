"""roost's command line: parse, call the library, render. No logic lives here."""

from __future__ import annotations

import sys

import typer

from roost.errors import RoostError

app = typer.Typer(
    name="roost",
    help="Host ML tools and run training jobs on this computer, SSH machines and AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from roost.cli import (  # noqa: E402  (registers the commands)
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

lifecycle_cmds.register(app)
info_cmds.register(app)
files_cmds.register(app)
jobs_cmds.register(app)
offers_cmds.register(app)
share_cmds.register(app)
cloud_cmds.register(app)
backup_cmds.register(app)
serve_cmds.register(app)


def main() -> None:
    """Entry point: run a command; a RoostError becomes a message and exit code 1."""
    from roost.cli.render import error

    try:
        app()
    except RoostError as exc:
        error(str(exc))
        sys.exit(exc.exit_code)
