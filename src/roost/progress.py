"""How the library tells its caller what it is doing, without knowing about terminals.

Steps are reported to the Progress a verb was given. Bytes moving (rsync, S3) are reported
to :func:`transfer`, which finds the caller's Progress through a context variable: the
innermost open step's, else the one set with :func:`reporting`, else nobody (then transfers
do not even ask rsync for its progress).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

Meter = Callable[[int, int | None], None]
"""Told the bytes done so far and the bytes in all (None while not known) of one transfer."""


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

    def transfer(self, title: str) -> contextlib.AbstractContextManager[Meter]:
        """Bytes are moving for as long as the context is open (inside a step: that step's)."""
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

    @contextlib.contextmanager
    def transfer(self, title: str) -> Iterator[Meter]:
        yield lambda done, total: None


_reporting_to: ContextVar[Progress | None] = ContextVar("roost_progress", default=None)


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Transfers started in this context (this thread, or a copy of its context) report to ``progress``."""
    token = _reporting_to.set(progress)
    try:
        yield
    finally:
        _reporting_to.reset(token)


@contextlib.contextmanager
def transfer(title: str) -> Iterator[Meter | None]:
    """A meter for bytes about to move, or None when nobody is watching."""
    progress = _reporting_to.get()
    if progress is None:
        yield None
        return
    with progress.transfer(title) as meter:
        yield meter


class Named:
    """Another Progress's events, each titled with a machine's name (for machines brought up side by side)."""

    def __init__(self, inner: Progress, name: str) -> None:
        self.inner, self.name = inner, name

    def step(self, title: str) -> contextlib.AbstractContextManager[None]:
        """The inner step, titled ``NAME: title``."""
        return self.inner.step(f"{self.name}: {title}")

    def skipped(self, title: str) -> None:
        """The inner skipped, titled ``NAME: title``."""
        self.inner.skipped(f"{self.name}: {title}")

    def info(self, message: str) -> None:
        """The inner info, prefixed with ``NAME: ``."""
        self.inner.info(f"{self.name}: {message}")

    def transfer(self, title: str) -> contextlib.AbstractContextManager[Meter]:
        """The inner transfer, titled ``NAME: title``."""
        return self.inner.transfer(f"{self.name}: {title}")
