"""The live display's columns: a spinner, the step, and for bytes moving a bar with bytes
done of all, rate and time left (imported only when a terminal shows it)."""

from __future__ import annotations

from rich import filesize
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.text import Text


def live_display(console: Console) -> Progress:
    """One rich Progress for every running step's row (removed when its step ends)."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), _Bar(), _Transfer(),
        console=console, transient=True, refresh_per_second=8,
    )  # fmt: skip


def _size(count: float) -> str:
    return filesize.decimal(int(count))


class _Transfer(ProgressColumn):
    """Bytes done of all, rate and time left; nothing for a step that moves no bytes."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("moving"):
            return Text("")
        total = _size(task.total) if task.total else "?"
        speed = task.speed
        left = task.time_remaining
        parts = [f"{_size(task.completed)}/{total}", f"{_size(speed)}/s" if speed else "", ""]
        if left is not None and task.total:
            parts[2] = f"{int(left) // 60}:{int(left) % 60:02d} left"
        return Text("  ".join(p for p in parts if p))


class _Bar(ProgressColumn):
    """A bar while bytes move toward a known total; nothing otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.bar = BarColumn(bar_width=30)

    def render(self, task: Task) -> RenderableType:
        return self.bar.render(task) if task.fields.get("moving") and task.total else Text("")
