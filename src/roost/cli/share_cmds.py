"""``roost share | users | trust``: each a few lines over :mod:`roost.lifecycle.sharing`."""

from __future__ import annotations

import typer

from roost.cli.render import RichProgress, console


def register(app: typer.Typer) -> None:
    """Add the sharing commands to ``app``."""
    users = typer.Typer(help="Manage who may log in through a shared machine's gateway.", no_args_is_help=True)
    app.add_typer(users, name="users")

    @app.command()
    def share(name: str) -> None:
        """Put the machine's app behind the gateway: HTTPS on 443 and a login."""
        from roost.lifecycle import sharing

        result = sharing.share(name, progress=RichProgress())
        console.print(f"{name} is shared at {result.url}")

    @users.command("add")
    def add(name: str, user: str) -> None:
        """Add a user; prints the generated password once."""
        from roost.lifecycle import sharing

        console.print(f"user {user} may log in to {name} with the password: {sharing.add_user(name, user)}")
        console.print("  (shown once; roost keeps only its bcrypt hash on the machine)")

    @users.command("remove")
    def remove(name: str, user: str) -> None:
        """Remove a user."""
        from roost.lifecycle import sharing

        sharing.remove_user(name, user)
        console.print(f"user {user} removed from {name}")

    @app.command()
    def trust(name: str) -> None:
        """Print the gateway's CA certificate file and how to trust it in a browser."""
        from roost.lifecycle import sharing

        path = sharing.trust(name)
        console.print(str(path))
        console.print("  import it as a certificate authority (browser settings: certificates → authorities)")
