"""``roost cost`` and ``roost gc``: a few lines over :mod:`roost.lifecycle.housekeeping`."""

from __future__ import annotations

import json

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console, print_table
from roost.cli.verbs import verbs

commands = CommandList()


@commands.command("cost")
def cost_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each machine's price per hour and what it has cost so far."""
    rows = verbs().cost()
    if as_json:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=1))
        return
    cells = [
        [
            r.name,
            r.backend,
            r.state.value,
            r.instance_type or "-",
            f"{r.hourly_usd:.4f}",
            f"{r.hours:.2f}",
            f"{r.spend_usd:.2f}",
        ]
        for r in rows
    ]
    if rows:
        print_table(["NAME", "BACKEND", "STATE", "TYPE", "$/H", "HOURS", "SPENT $"], cells)
    else:
        console.print("no machines")
    if rows:
        console.print(
            f"total so far: ${sum(r.spend_usd for r in rows):.2f}; "
            f"running now: ${sum(r.hourly_usd for r in rows if r.state.value == 'running'):.4f}/h"
        )


@commands.command("gc")
def gc_(
    yes: bool = typer.Option(False, "--yes", help="delete what is listed"),
    region: list[str] = typer.Option(None, "--region", help="regions to look in (repeatable)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List cloud resources roost created that no machine owns any more; --yes deletes them."""
    result = verbs().gc(regions=region or None, yes=yes)
    if as_json:
        print(json.dumps(result.model_dump(), indent=1))
        return
    for item in result.leftovers:
        console.print(f"{item['region']}  {item['kind']:<15} {item['id']:<24} machine {item['machine']}")
    if not result.leftovers:
        console.print("nothing left behind")
    elif yes:
        console.print(f"deleted {len(result.leftovers)} resource(s)")
    else:
        console.print(f"{len(result.leftovers)} resource(s); `roost gc --yes` deletes them")


def register(app: typer.Typer) -> None:
    """Add the cost and gc commands to ``app``."""
    commands.register(app)
