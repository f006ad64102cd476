"""roost's command line: parse, call the library, render. No logic lives here.

``main`` first offers the command to :mod:`roost.cli.quick`, which answers `roost status`
(from the watchers' cache) and `roost exec` (over a warm connection) without loading typer,
pydantic or roost's models, and `roost up` to :mod:`roost.cli.quick_up`, which reads its few
arguments without typer; everything else, and anything a quick path is unsure of, runs
through the full CLI in :mod:`roost.cli.full`.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Entry point: a RoostError becomes a message and exit code 1; anything else is a bug in
    roost, whose traceback is printed and kept in a crash log."""
    if sys.argv[1:2] in (["status"], ["exec"]):  # the others do not pay for the quick path's imports
        from roost.cli.quick import run_quick

        code = run_quick(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    elif sys.argv[1:2] == ["up"]:
        from roost.cli.quick_up import run_up

        code = run_up(sys.argv[2:])
        if code is not None:
            from roost.cli.outcome import exit_now

            exit_now(code)
    from roost.cli.full import main as full

    full()


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app, for tests and completion: loaded only when asked for
        from roost.cli.full import app

        return app
    raise AttributeError(name)
