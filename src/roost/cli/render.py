"""Terminal rendering for the CLI: step progress with elapsed times, errors, tables."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from rich.console import Console
from rich.text import Text

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class RichProgress:
    """Shows each step with a spinner while it runs and its elapsed time when done.

    Steps may run in parallel threads; one spinner shows at a time (rich allows one live
    display), and every step prints its own line when it ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spinning = False

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        started = time.monotonic()
        with self._lock:
            mine, self._spinning = not self._spinning, True
        try:
            with err_console.status(title + " ...") if mine else contextlib.nullcontext():
                yield
        except BaseException:
            err_console.print(Text(f"  ✗ {title}  {time.monotonic() - started:.1f}s", style="red"))
            raise
        finally:
            if mine:
                with self._lock:
                    self._spinning = False
        err_console.print(Text(f"  ✓ {title}  ") + Text(f"{time.monotonic() - started:.1f}s", style="dim"))

    def skipped(self, title: str) -> None:
        err_console.print(Text(f"  · {title}  (done before)", style="dim"))

    def info(self, message: str) -> None:
        err_console.print(Text(message, style="yellow"))


def error(message: str) -> None:
    """Print an error without a traceback; the text is shown literally (no markup)."""
    err_console.print(Text("error: ", style="bold red") + Text(message))


def note(message: str) -> None:
    """A line of context on stderr (where data came from, what was chosen)."""
    err_console.print(Text(message, style="dim"))
