"""``roost offers``: a few lines over :mod:`roost.catalog`."""

from __future__ import annotations

import json

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console, note, print_table
from roost.cli.verbs import verbs

commands = CommandList()


@commands.command("offers")
def offers_(
    gpu: str = typer.Option(None, "--gpu", help="T4, T4:4, A100:8 or a count"),
    cpus: str = typer.Option(None, "--cpus", help="at least this many vCPUs (4 or 4+)"),
    memory: str = typer.Option(None, "--memory", help="at least this much memory (16, 16+, 16GiB)"),
    spot: bool = typer.Option(False, "--spot", help="only offers with a spot price; sort by it"),
    arch: str = typer.Option(None, "--arch", help="x86_64 or arm64"),
    region: str = typer.Option("any", "--region", help="a region, or any: the cheapest region that has it"),
    limit: int = typer.Option(20, "--limit"),
    refresh: bool = typer.Option(False, "--refresh", help="fetch types and prices from AWS first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Instance offers that fit, cheapest first, with $/hour (roost's snapshot, or AWS's after --refresh)."""
    from roost.catalog.offers import offers_source  # start-up time: the catalogue loads for this command only

    if refresh:
        cache = verbs().refresh_offers(None if region == "any" else region, say=note)
        note(f"fetched {len(cache.offers)} offers for {cache.region}")
    note(f"offers from {offers_source(region)}")

    found = verbs().offers(
        gpu=gpu,
        cpus=cpus.rstrip("+") if cpus else None,
        memory=memory.rstrip("+") if memory else None,
        spot=spot,
        region=region,
        arch=arch,
    )[:limit]
    if as_json:
        print(json.dumps([offer.model_dump() for offer in found], indent=1))
        return
    if not found:
        console.print("no offer fits")
        return
    rows = [
        [
            o.instance_type,
            o.region,
            str(o.vcpus),
            f"{o.memory_gib:g}",
            f"{o.accelerator_count:g} x {o.accelerator}" if o.accelerator else "-",
            f"{o.price:.4f}",
            "-" if o.spot_price is None else f"{o.spot_price:.4f}",
            o.arch,
        ]
        for o in found
    ]
    print_table(["TYPE", "REGION", "VCPUS", "MEMORY GiB", "ACCELERATORS", "$/H", "SPOT $/H", "ARCH"], rows)


def register(app: typer.Typer) -> None:
    """Add the offers command to ``app``."""
    commands.register(app)
