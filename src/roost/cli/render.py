"""Terminal rendering for the CLI: step progress with elapsed times, errors, tables."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console
from rich.text import Text

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class RichProgress:
    """Shows each step with a spinner while it runs and its elapsed time when done."""

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        with err_console.status(title + " ..."):
            try:
                yield
            except BaseException:
                err_console.print(Text(f"  ✗ {title}  {time.monotonic() - started:.1f}s", style="red"))
                raise
        err_console.print(Text(f"  ✓ {title}  ") + Text(f"{time.monotonic() - started:.1f}s", style="dim"))

    def skipped(self, title: str) -> None:
        err_console.print(Text(f"  · {title}  (done before)", style="dim"))

    def info(self, message: str) -> None:
        err_console.print(Text(message, style="yellow"))


def error(message: str) -> None:
    """Print an error without a traceback; the text is shown literally (no markup)."""
    err_console.print(Text("error: ", style="bold red") + Text(message))
