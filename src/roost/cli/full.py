"""The full command line (typer): every command, one small module per group of them
(``*_cmds.py``), each a module-level function over one library verb of :mod:`roost`."""

from __future__ import annotations

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
from roost.cli.outcome import exit_now, run_reported
from roost.cli.render import set_quiet

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


def main() -> None:
    """Run a command (see :func:`roost.cli.outcome.run_reported` for how it ends)."""
    try:
        code = run_reported(app)
    except SystemExit as done:  # typer's own ending, with the command's exit code
        if not isinstance(done.code, int | None):
            raise
        code = done.code or 0
    exit_now(code)
