"""``roost exec | sync | download``: each a few lines over :mod:`roost.lifecycle.files`."""

from __future__ import annotations

import sys

import typer

from roost.cli.render import console


def register(app: typer.Typer) -> None:
    """Add the commands that work on a running machine to ``app``."""

    @app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def exec_(name: str, command: list[str] = typer.Argument(..., help="the command, after --")) -> None:
        """Run a command in the machine's workdir; exits with its exit code."""
        from roost.lifecycle import files as operations

        result = operations.exec_command(name, command, on_output=lambda line: print(line, end="", flush=True))
        sys.stderr.write(result.stderr)
        raise typer.Exit(result.exit_code)

    @app.command()
    def sync(name: str) -> None:
        """Upload the spec's workdir and file_mounts to the machine (incremental)."""
        from roost.lifecycle import files as operations

        operations.sync(name)
        console.print(f"{name}: workdir in sync")

    @app.command()
    def download(name: str, path: str, destination: str = typer.Argument(None)) -> None:
        """Copy PATH (inside the machine's workdir) here, by default into ./roost-outputs/NAME/."""
        from roost.lifecycle import files as operations

        console.print(f"downloaded to {operations.download(name, path, destination)}")
