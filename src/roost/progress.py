"""How the library tells its caller what it is doing, without knowing about terminals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Progress(Protocol):
    """Receives step events; the CLI renders them, library callers may ignore them."""

    def step(self, title: str) -> contextlib.AbstractContextManager[None]:
        """A step is running for as long as the context is open."""
        ...

    def skipped(self, title: str) -> None:
        """A step was already done by an earlier run."""
        ...

    def info(self, message: str) -> None:
        """Something the user should know."""
        ...


class SilentProgress:
    """A Progress that reports nothing (the default for library calls)."""

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        yield

    def skipped(self, title: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass
