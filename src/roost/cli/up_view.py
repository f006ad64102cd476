"""What `roost up` (and `roost start`) print, and the question before a new cloud machine
costs money: shared by the typer command and the quick path, and free of typer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from roost.cli.render import console, err_console

if TYPE_CHECKING:
    from roost.lifecycle.machines import UpResult


def show_up(result: UpResult) -> None:
    """The machine's URL (or what to do with a machine without an app), and how to log in."""
    where = result.url or "no app; `roost exec` and `roost run` work on it"
    if result.already_up:
        console.print(f"{result.name} is already up: {where}")
    else:
        console.print(f"{result.name} is up in {result.seconds:.1f}s: {where}")
    if result.login:
        console.print(f"  {result.login}")


def confirm_spend(quote: str, yes: bool) -> bool:
    """Show what a new machine costs; on a terminal (without --yes) ask before it is made."""
    err_console.print(f"new machine: {quote}")
    if yes or not sys.stdin.isatty():
        return True
    from rich.prompt import Confirm

    return Confirm.ask("create it?", default=False, console=err_console)
