"""``roost status | open | password | logs``: each a few lines over :mod:`roost.lifecycle.info`."""

from __future__ import annotations

import json
import os
import sys

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console, print_table
from roost.cli.table import STATUS_HEADERS, status_rows
from roost.cli.verbs import verbs
from roost.machine.peek import STATUS_MAX_AGE


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform == "darwin"


commands = CommandList()


@commands.command()
def status(
    name: str = typer.Argument(None),
    as_json: bool = typer.Option(False, "--json"),
    live: bool = typer.Option(False, "--live", help="probe every machine now, even where a watcher just did"),
) -> None:
    """Show machines, their state and app health. Where `roost server` or `roost watch` runs, its
    probes (at most 30 s old, and none older than the machine's last change) are shown as they are."""
    machines = [m.model_dump(mode="json") for m in verbs().status(name, max_age=0.0 if live else STATUS_MAX_AGE)]
    show_status(machines, as_json)


def show_status(machines: list[dict], as_json: bool) -> None:
    """Print machines (MachineStatus JSON) as `roost status` does."""
    if as_json:
        print(json.dumps(machines, indent=1))
    elif not machines:
        console.print("no machines; `roost up jupyter` makes one")
    else:
        print_table(STATUS_HEADERS, status_rows(machines))


@commands.command("open")
def open_(name: str, no_browser: bool = typer.Option(False, "--no-browser")) -> None:
    """Print the app's URL and how to log in; open a browser when there is one."""
    found = verbs().open_info(name)
    console.print(found.url)
    console.print(f"  {found.login}")
    if not no_browser and _has_display():
        import webbrowser  # start-up time: only `open` needs it

        webbrowser.open(found.url)


@commands.command()
def password(name: str) -> None:
    """Print the app password roost generated for this machine."""
    print(verbs().password(name))


@commands.command()
def logs(
    name: str,
    job: str = typer.Argument(None, help="a job id (`roost jobs NAME`); default: the app"),
    follow: bool = typer.Option(False, "--follow", "-f"),
    lines: int = typer.Option(100, "--lines", "-n", help="app logs: how many last lines"),
    offset: int = typer.Option(0, "--offset", help="job logs: start at this byte"),
) -> None:
    """Print the app's log, or a job's whole output; -f follows it (Ctrl-C stops following)."""
    echo = lambda line: print(line, end="", flush=True)
    try:
        if job:
            verbs().job_logs(name, job, follow=follow, offset=offset, on_output=echo)
        else:
            verbs().logs(name, lines=lines, follow=follow, on_output=echo)
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    """Add the read-only commands to ``app``."""
    commands.register(app)
