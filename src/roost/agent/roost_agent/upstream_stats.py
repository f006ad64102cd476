"""Requests per replica, from the balancer's log of its round trips to each upstream.

Caddy 2.6 counts requests per site only; its reverse proxy logs each round trip at debug level
(``upstream roundtrip``: the upstream's address, the duration, the status or the error). The
gateway's Caddyfile sends those lines, and nothing else, to a file of their own that Caddy
rolls at a few MiB (see ``roost.gateway``). This reader follows that file across rolls (it
finishes the renamed file through its open handle before it opens the new one) and keeps
per-second counts per upstream over a window.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict, deque

# Caddy's line, its fields in the order its reverse proxy writes them (request and headers filtered out):
# {"level":"debug","ts":…,"logger":"http.handlers.reverse_proxy","msg":"upstream roundtrip",
#  "upstream":"127.0.0.1:8001","duration":0.0012,"status":200}   ("error":"…" instead of a status)
ROUNDTRIP = re.compile(
    rb'"ts":([0-9.e+]+),[^\n]*?"msg":"upstream roundtrip","upstream":"([^"]*)",'
    rb'"duration":([0-9.e+-]+)(?:,"status":(\d+))?([^\n]*)'
)


class UpstreamStats:
    """Round trips per upstream address ("127.0.0.1:PORT") over the last ``window`` seconds."""

    def __init__(self, path: str, window: float) -> None:
        self.path, self.window = path, max(1.0, window)
        self.handle = None
        self.partial = b""
        # address -> deque of [second, answered, errors, seconds spent]
        self.buckets: dict[str, deque] = defaultdict(deque)
        self.started: float | None = None
        self._open(at_end=True)  # what was logged before the controller started is not counted

    def _open(self, at_end: bool = False) -> None:
        try:
            self.handle = open(self.path, "rb")  # noqa: SIM115  (kept open: it follows the file across a roll)
        except OSError:
            self.handle = None
            return
        if at_end:
            self.handle.seek(0, os.SEEK_END)

    def _rolled(self) -> bool:
        """True when the path is now another file than the one being read (Caddy rolled it)."""
        try:
            return os.stat(self.path).st_ino != os.fstat(self.handle.fileno()).st_ino
        except OSError:
            return False

    def read(self, now: float) -> None:
        """Count the round trips logged since the last read, and forget those out of the window."""
        if self.started is None:
            self.started = now
        if self.handle is None:
            self._open()
        while self.handle is not None:
            self._count(self.handle.read())
            if not self._rolled():
                break
            # Caddy closes the file before it renames it: what it wrote after the read above and
            # before the roll is the rest of this handle
            self._count(self.handle.read())
            self.handle.close()
            self.partial = b""
            self._open()
        for address in list(self.buckets):
            entries = self.buckets[address]
            while entries and now - entries[0][0] > self.window:
                entries.popleft()
            if not entries:
                del self.buckets[address]

    def _count(self, data: bytes) -> None:
        chunk = self.partial + data
        end = chunk.rfind(b"\n") + 1
        self.partial = chunk[end:]  # a line Caddy is still writing
        # one scan in C over the whole chunk: the controller may read thousands of lines a second
        for match in ROUNDTRIP.finditer(chunk, 0, end):
            stamp, address, duration, status, rest = match.groups()
            second = int(float(stamp))
            failed = (b'"error"' in rest) if status is None else int(status) >= 500
            entries = self.buckets[address.decode()]
            if not entries or entries[-1][0] != second:
                entries.append([second, 0, 0, 0.0])
            bucket = entries[-1]
            bucket[2 if failed else 1] += 1
            bucket[3] += float(duration)

    def summary(self, now: float) -> dict[str, dict[str, float]]:
        """Per upstream address, over the window (or the time since the first read when that is
        shorter): ``requests`` answered and ``errors`` (an error, or a status of 500 or more),
        both also per second, and ``mean_ms``, the mean round-trip time."""
        span = min(self.window, max(1.0, now - (self.started or now)))
        found = {}
        for address, entries in self.buckets.items():
            answered = sum(entry[1] for entry in entries)
            failed = sum(entry[2] for entry in entries)
            spent = sum(entry[3] for entry in entries)
            found[address] = {
                "requests": answered,
                "errors": failed,
                "requests_per_second": round(answered / span, 2),
                "errors_per_second": round(failed / span, 2),
                "mean_ms": round(1000 * spent / (answered + failed), 3) if answered + failed else 0.0,
            }
        return found
