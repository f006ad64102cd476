"""Ship every scheduled backup to its store (``backup_to``) whether or not a roost command runs.

The machine's agent takes the backups on schedule; this reconciler copies each one it has not
shipped yet into the store, checksums verified there (the same path as `roost backups`), at
least twice per backup interval, so each arrives within its interval and well inside a minute
more. A machine another roost command is working on is left for the next round. A failure is
an event once per streak (``backup failed``), and the streak's end is one too.
"""

from __future__ import annotations

import logging
import time

from roost.backups.machine import collect
from roost.errors import LockTimeout, RoostError
from roost.machine import journal
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import State, machine_lock
from roost.session import MachineSession

log = logging.getLogger("roost.watch.backups")
LONGEST_GAP_SECONDS = 30.0


class BackupShipper:
    """One step ships what every running machine with ``backup:`` has taken since the last."""

    def __init__(self) -> None:
        self.state = State()
        self.shipped_at: dict[str, float] = {}
        self.failing: set[str] = set()
        self.shipped: list[tuple[str, str, float, float]] = []
        """(machine, backup id, taken at, shipped at) of this process's shipments, newest last."""

    def step(self) -> None:
        """Ship for every machine that is due."""
        now = time.time()
        for record in self.state.machines():
            if record.spec.backup is None or record.state != MachineState.RUNNING:
                continue
            gap = min(LONGEST_GAP_SECONDS, record.spec.backup.every_seconds / 2)
            if now - self.shipped_at.get(record.name, 0.0) >= gap:
                self.ship(record)

    def ship(self, record: MachineRecord) -> None:
        """Copy the machine's new scheduled backups into its store; record what happened."""
        try:
            with machine_lock(record.name, timeout=0.5):
                fresh = collect(MachineSession(self.state, record))
        except LockTimeout:
            return  # a roost command is working on it (it collects too, when it lists backups)
        except RoostError as exc:
            if record.name not in self.failing:
                journal.record_event(self.state, record.name, "backup failed", exc.message)
                self.failing.add(record.name)
            log.info("shipping backups of %s failed: %s", record.name, exc.message)
            return
        now = time.time()
        self.shipped_at[record.name] = now
        if record.name in self.failing:
            self.failing.discard(record.name)
            journal.record_event(self.state, record.name, "backup", "backups reach their store again")
        for info in fresh:
            self.shipped.append((record.name, info.id, info.created_at, now))
            journal.record_event(
                self.state,
                record.name,
                "backup",
                f"scheduled backup {info.id} shipped to {record.spec.backup_to or 'the local store'} "
                f"{now - info.created_at:.0f}s after it was taken",
            )
        del self.shipped[:-100]
