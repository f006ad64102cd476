"""``roost serve SPEC | status NAME``: a few lines over :mod:`roost.service.steps` and ``up``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import typer

from roost.cli.commands import CommandList
from roost.cli.render import PROGRESS, console
from roost.cli.verbs import verbs

if TYPE_CHECKING:
    from roost.service.status import ReplicaStatus


commands = CommandList()


@commands.command(no_args_is_help=True)
def serve(
    words: list[str] = typer.Argument(
        ...,
        metavar="SPEC | status NAME | update NAME SPEC",
        help="a service spec to bring up, `status NAME`, or `update NAME SPEC` (a rolling update)",
    ),
    as_json: bool = typer.Option(False, "--json", help="status as JSON"),
    accept_new_host_key: bool = typer.Option(
        False, "--accept-new-host-key", help="trust SSH hosts seen for the first time"
    ),
) -> None:
    """Run a spec's app as replicas behind a load balancer, or show a service's replicas."""
    if words[0] == "status" and len(words) == 2:
        found = verbs().serve_status(words[1])
        if as_json:
            print(json.dumps(found.model_dump(), indent=1))
            return
        rate = "?" if found.requests_per_second is None else f"{found.requests_per_second:.1f}"
        window = f" (per replica: over the last {found.window_seconds:g} s)" if found.window_seconds else ""
        console.print(f"{found.name}: {found.url}  {rate} requests/s{window}")
        for r in found.replicas:
            console.print(
                f"  {r.name:<16} on {r.machine:<16} port {r.port:<6} {r.state:<11} "
                f"{'healthy' if r.healthy else 'UNHEALTHY':<9} "
                f"restarts {r.restarts}  {_load(r)}open requests {r.in_flight}  recent failures {r.fails}"
            )
        for path, group in found.routes.items():
            console.print(
                f"  route {path}: "
                + ", ".join(
                    f"{r.name} port {r.port} {'healthy' if r.healthy else 'UNHEALTHY'} restarts {r.restarts} {_load(r)}"
                    for r in group
                )
            )
        for event in found.events[-5:]:
            when = time.strftime("%H:%M:%S", time.localtime(event["at"]))
            where = f" (machine {event['machine']} lost; now {event['by']})" if event.get("by") else ""
            where += f" here (its {event['reason']})" if event.get("reason") else ""
            console.print(f"  {when} {event['event']} {event['replica']}{where}")
        return
    if words[0] == "update" and len(words) == 3:
        result = verbs().serve_update(words[1], words[2], progress=PROGRESS)
        console.print(f"{result.name} now serves the new release at {result.url}")
        return
    if len(words) != 1:
        raise typer.BadParameter("give one spec file, `status NAME` or `update NAME SPEC`")
    result = verbs().serve(words[0], progress=PROGRESS, accept_new_host_key=accept_new_host_key)
    console.print(f"{result.name} is serving at {result.url} ({result.replicas} replica(s))")


def register(app: typer.Typer) -> None:
    """Add ``roost serve`` to ``app``."""
    commands.register(app)


def _load(replica: ReplicaStatus) -> str:
    """A replica's requests/s, errors/s and mean response time, when the controller counts them."""
    if replica.requests_per_second is None:
        return ""
    return (
        f"{replica.requests_per_second:.1f} req/s  {replica.errors_per_second:.1f} err/s  "
        f"mean {replica.mean_ms or 0:.1f} ms  "
    )
