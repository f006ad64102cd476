"""Commands written as module-level functions, added to the app in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

Command = Callable[..., None]


class CommandList:
    """Records commands (``@commands.command(...)`` as typer's own decorator) so that each stays a
    plain module-level function a test can import and call, and adds them to an app later."""

    def __init__(self) -> None:
        self._commands: list[tuple[Command, tuple[Any, ...], dict[str, Any]]] = []

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Command], Command]:
        """Record ``fn`` as a command with typer's ``app.command`` arguments; ``fn`` is unchanged."""

        def record(fn: Command) -> Command:
            self._commands.append((fn, args, kwargs))
            return fn

        return record

    def register(self, app: typer.Typer) -> None:
        """Add every recorded command to ``app``."""
        for fn, args, kwargs in self._commands:
            app.command(*args, **kwargs)(fn)
