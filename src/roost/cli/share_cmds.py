"""``roost share | users | trust``: each a few lines over :mod:`roost.lifecycle.sharing`."""

from __future__ import annotations

import typer

from roost.cli.commands import CommandList
from roost.cli.render import PROGRESS, console
from roost.cli.verbs import verbs

commands = CommandList()
users = typer.Typer(help="Manage who may log in through a shared machine's gateway.", no_args_is_help=True)


@commands.command()
def share(name: str) -> None:
    """Put the machine's app behind the gateway: HTTPS on 443 and a login."""
    result = verbs().share(name, progress=PROGRESS)
    console.print(f"{name} is shared at {result.url}")


@users.command("add")
def add(name: str, user: str) -> None:
    """Add a user; prints the generated password once."""
    console.print(f"user {user} may log in to {name} with the password: {verbs().add_user(name, user)}")
    console.print("  (shown once; roost keeps only its bcrypt hash on the machine)")


@users.command("remove")
def remove(name: str, user: str) -> None:
    """Remove a user."""
    verbs().remove_user(name, user)
    console.print(f"user {user} removed from {name}")


@commands.command()
def trust(name: str) -> None:
    """Print the gateway's CA certificate file and how to trust it in a browser."""
    path = verbs().trust(name)
    console.print(str(path))
    console.print("  import it as a certificate authority (browser settings: certificates → authorities)")


def register(app: typer.Typer) -> None:
    """Add the sharing commands to ``app``."""
    commands.register(app)
    app.add_typer(users, name="users")
