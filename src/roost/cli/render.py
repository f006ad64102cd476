"""Terminal rendering for the CLI: step progress with elapsed times, errors, tables."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import filesize
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from roost.cli.table import table_lines
from roost.progress import Meter, reporting

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no live display, one line per finished step (as for a non-terminal)."""
    global _quiet
    _quiet = quiet


def _size(count: float) -> str:
    return filesize.decimal(int(count))


@dataclass
class _Row:
    """One running step or transfer: what it moved so far, for its bar and its last line."""

    title: str
    started: float
    task: TaskID | None = None
    moved: int = 0  # bytes of this row's finished transfers
    done: int = 0  # of the running one
    total: int | None = None
    first: float | None = None
    last: float = 0.0

    def summary(self) -> str:
        """``  12.3 MB at 45.6 MB/s`` once bytes moved, else nothing."""
        if self.first is None or self.moved == 0:
            return ""
        seconds = max(self.last - self.first, 1e-3)
        return f"  {_size(self.moved)} at {_size(self.moved / seconds)}/s"


_open_row: ContextVar[_Row | None] = ContextVar("roost_open_row", default=None)


class RichProgress:
    """Each running step (steps may run in parallel threads) is a row of one live display on a
    terminal: a spinner, its title, and for bytes moving a bar with bytes done, rate and time
    left; each prints one line when it ends, with its time and what it moved. ``--quiet`` and
    non-terminals get those lines only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows = 0
        self._display: Progress | None = None

    def _live(self) -> Progress | None:
        if _quiet or not err_console.is_terminal:
            return None
        if self._display is None:
            from roost.cli.bars import live_display  # start-up time: only a terminal draws bars

            self._display = live_display(err_console)
        return self._display

    @contextlib.contextmanager
    def _row(self, title: str) -> Iterator[_Row]:
        row = _Row(title, time.monotonic())
        display = self._live()
        if display is not None:
            with self._lock:
                if self._rows == 0:
                    display.start()
                self._rows += 1
                row.task = display.add_task(title, total=None, moving=False)
        try:
            yield row
        finally:
            if display is not None and row.task is not None:
                with self._lock:
                    display.remove_task(row.task)
                    self._rows -= 1
                    if self._rows == 0:
                        display.stop()

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        with self._row(title) as row:
            token = _open_row.set(row)
            try:
                with reporting(self):
                    yield
            except BaseException:
                err_console.print(Text(f"  ✗ {title}  {time.monotonic() - row.started:.1f}s", style="red"))
                raise
            finally:
                _open_row.reset(token)
        done = Text(f"  ✓ {title}  ") + Text(f"{time.monotonic() - row.started:.1f}s", style="dim")
        err_console.print(done + Text(row.summary(), style="dim"))

    @contextlib.contextmanager
    def transfer(self, title: str) -> Iterator[Meter]:
        row = _open_row.get()
        if row is not None:  # inside a step: its row shows the bytes
            with self._metering(row) as meter:
                yield meter
            return
        with self.step(title):
            opened = _open_row.get()
            assert opened is not None
            with self._metering(opened) as meter:
                yield meter

    @contextlib.contextmanager
    def _metering(self, row: _Row) -> Iterator[Meter]:
        def meter(done: int, total: int | None) -> None:
            now = time.monotonic()
            row.first = now if row.first is None else row.first
            row.done, row.total, row.last = done, total, now
            if self._display is not None and row.task is not None:
                whole = row.moved + total if total is not None else None
                self._display.update(row.task, completed=row.moved + done, total=whole, moving=True)
                self._display.refresh()

        try:
            yield meter
        finally:
            row.moved, row.done = row.moved + row.done, 0

    def skipped(self, title: str) -> None:
        err_console.print(Text(f"  · {title}  (done before)", style="dim"))

    def info(self, message: str) -> None:
        err_console.print(Text(message, style="yellow"))


PROGRESS = RichProgress()
"""The CLI's one display (rich allows one live display at a time)."""


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell under bold headers, as rich's borderless Table draws
    them, in time linear in the rows (rich measures every cell: over a second for 1,000 rows)."""
    head, *lines = table_lines(headers, rows, cell_len)
    console.print(Text(head, style="bold"))
    if lines:
        console.out("\n".join(lines), highlight=False)


def error(message: str) -> None:
    """Print an error without a traceback; the text is shown literally (no markup)."""
    err_console.print(Text("error: ", style="bold red") + Text(message))


def note(message: str) -> None:
    """A line of context on stderr (where data came from, what was chosen)."""
    err_console.print(Text(message, style="dim"))
