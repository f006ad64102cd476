"""`roost up` without loading typer (~0.1 s of the launch, whose budget is 0.3 s over the app's
own start): the arguments are read here, the verb is the library's, the output and the way a
command ends are the full CLI's own (:mod:`roost.cli.up_view`, :mod:`roost.cli.outcome`).

Anything this reader is unsure of (help, an option it does not know, a missing value) goes to
the full CLI, which answers it as it always has; nothing has run by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class UpArgs:
    """`roost up TARGET [--name NAME] [--accept-new-host-key] [--yes]`, as typed."""

    target: str
    name: str | None = None
    accept_new_host_key: bool = False
    yes: bool = False


def parse_up(args: Sequence[str]) -> UpArgs | None:
    """The arguments of `roost up`, or None when the full CLI should read them."""
    targets: list[str] = []
    name: str | None = None
    flags = {"--accept-new-host-key": False, "--yes": False}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--name", "-n"):
            if not rest or rest[0].startswith("-"):
                return None
            name = rest.pop(0)
        elif arg.startswith("--name="):
            name = arg.split("=", 1)[1]
        elif arg in flags or arg == "-y":
            flags["--yes" if arg == "-y" else arg] = True
        elif arg.startswith("-"):
            return None  # --help, a typo, --: typer's to answer
        else:
            targets.append(arg)
    if len(targets) != 1 or name == "":
        return None
    return UpArgs(targets[0], name, flags["--accept-new-host-key"], flags["--yes"])


def run_up(args: Sequence[str]) -> int | None:
    """The exit code of `roost up ARGS`, or None: the full CLI must run it."""
    parsed = parse_up(args)
    if parsed is None:
        return None
    from roost.cli.outcome import run_reported
    from roost.cli.render import PROGRESS
    from roost.cli.up_view import confirm_spend, show_up
    from roost.cli.verbs import verbs

    def up() -> None:
        result = verbs().up(
            parsed.target,
            name=parsed.name,
            progress=PROGRESS,
            accept_new_host_key=parsed.accept_new_host_key,
            confirm=lambda quote: confirm_spend(quote, parsed.yes),
        )
        show_up(result)

    return run_reported(up)
