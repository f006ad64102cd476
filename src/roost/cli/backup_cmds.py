"""``roost backup | backups | restore``: a few lines over :mod:`roost.backups.machine`."""

from __future__ import annotations

import json
import time

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console
from roost.cli.verbs import verbs

commands = CommandList()


def _items(app: str) -> str:
    """What a backup's count counts: Label Studio's annotations, a roost server's machines."""
    return "machines" if app == "roost-server" else "annotations"


@commands.command("backup")
def backup_(name: str) -> None:
    """Take a consistent backup of the app's data now (the app keeps running)."""
    info = verbs().backup(name)
    console.print(
        f"backup {info.id}: {info.annotations} {_items(info.app)}, {info.bytes / 1e6:.1f} MB, "
        f"checksums verified, at {info.location}"
    )


@commands.command("backups")
def backups_(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """The machine's backups, oldest first."""
    found = verbs().list_backups(name)
    if as_json:
        print(json.dumps([b.model_dump() for b in found], indent=1))
        return
    for b in found:
        console.print(
            f"{b.id}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(b.created_at))}  "
            f"{b.kind:<12} {b.database:<8} {b.annotations} {_items(b.app)}  {b.bytes / 1e6:.1f} MB"
        )
    if not found:
        console.print(f"no backups of {name}; `roost backup {name}` takes one")


@commands.command("restore")
def restore_(
    name: str,
    backup_id: str = typer.Option(..., "--from", help="the backup's id (`roost backups`)"),
    source: str = typer.Option(None, "--of", help="the machine the backup was taken of (default NAME)"),
    force: bool = typer.Option(False, "--force", help="restore over newer data (kept aside)"),
    spec: str = typer.Option(None, "--spec", help="bring NAME up from this spec first, if it does not exist"),
) -> None:
    """Restore a backup onto a machine (a new one with --spec), after verifying its checksums."""
    info = verbs().restore(name, backup_id, source=source, force=force, spec=spec)
    console.print(f"restored {info.id} ({info.annotations} annotations) onto {name}")


def register(app: typer.Typer) -> None:
    """Add the backup commands to ``app``."""
    commands.register(app)
