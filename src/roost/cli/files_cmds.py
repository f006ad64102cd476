"""``roost exec | sync | download``: each a few lines over :mod:`roost.lifecycle.files`."""

from __future__ import annotations

import sys

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console
from roost.cli.verbs import verbs

commands = CommandList()


@commands.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(name: str, command: list[str] = typer.Argument(..., help="the command, after --")) -> None:
    """Run a command in the machine's workdir; exits with its exit code."""
    result = verbs().exec(name, command, on_output=lambda line: print(line, end="", flush=True))
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.exit_code)


@commands.command()
def sync(name: str) -> None:
    """Upload the spec's workdir and file_mounts to the machine (incremental)."""
    verbs().sync(name)
    console.print(f"{name}: workdir in sync")


@commands.command()
def download(name: str, path: str, destination: str = typer.Argument(None)) -> None:
    """Copy PATH (inside the machine's workdir) here, by default into ./roost-outputs/NAME/."""
    console.print(f"downloaded to {verbs().download(name, path, destination)}")


def register(app: typer.Typer) -> None:
    """Add the commands that work on a running machine to ``app``."""
    commands.register(app)
