"""``roost up | stop | start | down``: each a few lines over :mod:`roost.roost.machines`."""

from __future__ import annotations

import typer
from rich.text import Text

from roost.cli.commands import CommandList
from roost.cli.render import PROGRESS, console, err_console
from roost.cli.up_view import confirm_spend, show_up
from roost.cli.verbs import verbs

commands = CommandList()


@commands.command()
def up(
    target: str = typer.Argument(..., help="a spec file, or an app name such as 'jupyter'"),
    name: str = typer.Option(None, "--name", "-n", help="machine name (default: the spec's)"),
    accept_new_host_key: bool = typer.Option(
        False, "--accept-new-host-key", help="trust an SSH host seen for the first time (shows its key)"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask before a new cloud machine costs money"),
) -> None:
    """Bring a machine and its app up; again, it only prints the URL."""
    result = verbs().up(
        target,
        name=name,
        progress=PROGRESS,
        accept_new_host_key=accept_new_host_key,
        confirm=lambda quote: confirm_spend(quote, yes),
    )
    show_up(result)


@commands.command()
def stop(name: str) -> None:
    """Stop the machine's apps (and the machine); keep its data."""
    result = verbs().stop(name)
    for warning in result.warnings:
        err_console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(f"{name} stopped; its data is kept. `roost start {name}` brings it back.")


@commands.command()
def start(name: str) -> None:
    """Start a stopped machine with the same app and data."""
    show_up(verbs().start(name, progress=PROGRESS))


@commands.command()
def down(
    name: str,
    no_backup: bool = typer.Option(False, "--no-backup", help="do not back up the app's data first (it is deleted)"),
) -> None:
    """Delete the machine and everything roost made for it (Label Studio is backed up first)."""
    result = verbs().down(name, no_backup=no_backup)
    for warning in result.warnings:
        err_console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(f"{name} is down; nothing of it is left.")


@commands.command()
def autostop(
    name: str,
    idle: str = typer.Argument(..., help="idle time before it stops (30m, 2h, 90s), or off"),
    down: bool = typer.Option(False, "--down", help="then take it down (cloud machines), not only stop it"),
) -> None:
    """Change a running machine's autostop now (idle time counts from now)."""
    result = verbs().autostop(name, idle, down=down)
    if result.idle_seconds is None:
        console.print(f"{name}: autostop off")
        return
    then = "taken down" if result.down else "stopped"
    console.print(f"{name}: {then} after {result.idle_seconds / 60:g} minutes idle")


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to ``app``."""
    commands.register(app)
