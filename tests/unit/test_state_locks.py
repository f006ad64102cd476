"""Opening the state database again never drops the locks another connection of this process holds."""

from __future__ import annotations

import os
from pathlib import Path

from roost.machine.state import State


def _locks_on(path: Path) -> int:
    """POSIX locks this process holds on the file (from /proc/locks)."""
    inode = os.stat(path).st_ino
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        pid_field = fields[4] if fields[1] != "->" else fields[5]
        where = fields[5] if fields[1] != "->" else fields[6]
        if pid_field == str(os.getpid()) and where.rsplit(":", 1)[-1] == str(inode):
            count += 1
    return count


def test_a_second_state_keeps_the_first_ones_read_lock(tmp_path: Path) -> None:
    first = State(tmp_path)
    first.db.execute("BEGIN")
    first.db.execute("SELECT count(*) FROM machines").fetchall()  # a read transaction: a shared lock
    before = _locks_on(first.path)
    assert before >= 1
    second = State(tmp_path)  # the server opens many (one per request) while others read
    assert _locks_on(first.path) == before  # closing a stray descriptor would have dropped them all
    first.db.execute("COMMIT")
    first.close()
    second.close()
