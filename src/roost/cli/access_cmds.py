"""``roost ssh | ssh-config``: a shell on a machine, and ssh/scp/rsync/VS Code through roost's config."""

from __future__ import annotations

import os
import sys

import typer

from roost.cli.commands import CommandList
from roost.cli.render import console

commands = CommandList()


@commands.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ssh(
    name: str, command: list[str] = typer.Argument(None, help="a command to run instead of a shell, after --")
) -> None:
    """A shell in the machine's workdir (or run a command there), with its pinned host key."""
    from roost.lifecycle.ssh_access import ssh_argv  # start-up time: only this command needs it

    argv = ssh_argv(name, list(command or []))
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # the terminal is ssh's (or the shell's) from here: its exit code is ours


@commands.command("ssh-config")
def ssh_config(
    install: bool = typer.Option(False, "--install", help="add one Include line for it to ~/.ssh/config"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask before editing ~/.ssh/config"),
) -> None:
    """Print where roost's ssh config is (a `Host roost-NAME` per machine); --install includes it."""
    from roost.lifecycle.ssh_access import config_path, install_include

    console.print(str(config_path()))
    if not install:
        console.print("  `roost ssh-config --install` makes `ssh roost-NAME` (and scp, rsync, VS Code) use it")
        return
    target = os.path.expanduser("~/.ssh/config")
    if not yes and sys.stdin.isatty() and not typer.confirm(f"add 'Include {config_path()}' to {target}?", err=True):
        raise typer.Exit(1)
    path, changed = install_include()
    console.print(f"{path}: {'Include added (nothing else changed)' if changed else 'already includes it'}")


def register(app: typer.Typer) -> None:
    """Add the access commands to ``app``."""
    commands.register(app)
