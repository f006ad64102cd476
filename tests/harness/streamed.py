"""A command whose output a test reads line by line while it runs, then whole at its end.

Reading a pipe with ``readline()`` and then calling ``communicate()`` loses whatever the
reader had already buffered past the last line it returned (``communicate`` reads the file
descriptor itself). Here one thread per stream owns each pipe from start to end, so every
line the command printed is kept, in order.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO


class Streamed:
    """``argv`` running with its stdout kept as a list of lines and its stderr as one text."""

    def __init__(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._arrived = threading.Condition()
        self._ended = 0
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _drain(self, stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            with self._arrived:
                sink.append(line)
                self._arrived.notify_all()
        with self._arrived:
            self._ended += 1
            self._arrived.notify_all()

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float) -> str:
        """The first stdout line ``wanted`` accepts, waiting up to ``timeout`` seconds for it;
        AssertionError (with all the output so far) when the command ends or time runs out first."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = next((line for line in self.lines if wanted(line)), None)
                left = deadline - time.monotonic()
                if found is not None:
                    return found
                if self._ended == len(self._readers) or left <= 0:
                    raise AssertionError(f"no such line; stdout:\n{self.out}\nstderr:\n{self.err[-3000:]}")
                self._arrived.wait(left)

    def finish(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the command to end and its output to be read; its
        exit status."""
        code = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=30)
        return code

    def stop(self) -> None:
        """Kill the command when it still runs (a test's cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    @property
    def out(self) -> str:
        """Everything on stdout so far."""
        return "".join(self.lines)

    @property
    def err(self) -> str:
        """Everything on stderr so far."""
        return "".join(self.errors)
