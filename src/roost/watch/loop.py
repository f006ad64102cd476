"""A reconciler's loop: one thread that runs a step every interval, backing off after failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from roost.errors import RoostError

log = logging.getLogger("roost.watch")
MAX_BACKOFF_SECONDS = 300.0


class Loop:
    """Runs ``step`` every ``every`` seconds in a thread of its own until stopped.

    A step that raises waits twice as long before the next try (up to five minutes) and is
    logged once per streak; a step that works resets the interval. A bug in a step is logged
    with its traceback and never ends the loop: the other reconcilers, and the server, go on.
    """

    def __init__(self, name: str, every: float, step: Callable[[], None]) -> None:
        self.name = name
        self.every = every
        self.step = step
        self.failures = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin (the first step at once)."""
        self._thread = threading.Thread(target=self._run, name=f"roost-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread once its step in progress returns."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def poke(self) -> None:
        """Run the step now rather than at the next interval."""
        self._wake.set()

    def delay(self) -> float:
        """Seconds until the next step: the interval, doubled for each failure in a row."""
        return min(MAX_BACKOFF_SECONDS, self.every * (2 ** min(self.failures, 10)))

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
                self.failures = 0
            except RoostError as exc:
                if not self.failures:
                    log.warning("%s: %s", self.name, exc.message)
                self.failures += 1
            except Exception:  # a bug in one step must not end the watcher; the log keeps it
                log.exception("%s failed", self.name)
                self.failures += 1
            self._wake.wait(self.delay())
            self._wake.clear()
