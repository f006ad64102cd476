"""Local state: one SQLite database (WAL) with a schema version, and per-machine locks.

The database holds machines and the steps each ``up`` has done, so an interrupted ``up``
resumes where it stopped. It never holds a secret's value. Writes are single transactions,
so a crash leaves either the old row or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from roost.errors import LockTimeout, StateError
from roost.machine.record import MachineFacts, MachineRecord, MachineState
from roost.paths import roost_home
from roost.spec.model import Spec

MIGRATIONS: list[str] = [
    # 1: machines and the steps of their ups
    """
    CREATE TABLE machines (
        name TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        state TEXT NOT NULL,
        facts_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE steps (
        machine TEXT NOT NULL,
        step TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed')),
        started_at REAL NOT NULL,
        finished_at REAL,
        PRIMARY KEY (machine, step)
    );
    """,
    # 2: what happened to machines (the server's events) and each machine's spend by day
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        machine TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_machine ON events (machine, id);
    CREATE TABLE spend_days (
        day TEXT NOT NULL,
        machine TEXT NOT NULL,
        spend_usd REAL NOT NULL,
        PRIMARY KEY (day, machine)
    );
    """,
    # 3: how far each watcher has got (the last event notified), so a restart neither skips nor repeats;
    # the jobs handed to the server (`roost run --detach`), one per machine
    """
    CREATE TABLE marks (
        name TEXT PRIMARY KEY,
        value REAL NOT NULL
    );
    CREATE TABLE managed_jobs (
        name TEXT PRIMARY KEY,
        record_json TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 4: each machine's last probed status, valid while its record is unchanged since the probe
    # (seen_updated_at = machines.updated_at): `roost status` answers from it, see machine/peek.py
    """
    CREATE TABLE status_cache (
        name TEXT PRIMARY KEY,
        seen_updated_at REAL NOT NULL,
        probed_at REAL NOT NULL,
        status_json TEXT NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class State:
    """The state database at ``$ROOST_HOME/state.db``; safe to use from several processes."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or roost_home()
        self.path = self.home / "state.db"
        self.lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        # made 0600 before SQLite opens it: its -wal and -shm files copy the database's mode.
        # Only when it is missing: closing any other descriptor of the file drops the POSIX locks
        # of every SQLite connection in this process (the server holds several) and corrupts it.
        if not self.path.exists():
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass  # another roost made it meanwhile
        self.db  # noqa: B018  (open now, so a broken database is reported at once)
        for path in (self.path, self.path.with_name("state.db-wal"), self.path.with_name("state.db-shm")):
            if path.exists() and path.stat().st_mode & 0o077:  # made by an older roost
                path.chmod(0o600)

    @property
    def db(self) -> sqlite3.Connection:
        """The connection; opened again on use after ``close`` (sessions outlive a command's)."""
        with self.lock:
            if self._db is None:
                try:
                    # one connection shared by the threads of parallel steps, serialised by the lock
                    self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                    self._db.execute("PRAGMA journal_mode=WAL")
                    self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: never corrupt, fewer fsyncs
                    self._db.execute("PRAGMA busy_timeout=30000")
                    self._migrate()
                except sqlite3.DatabaseError as exc:
                    self._db = None
                    raise StateError(
                        f"cannot use the state database {self.path}: {exc}",
                        hint="move the file aside to start afresh (machines it knew stay running)",
                    ) from None
            return self._db

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} has schema version {version}, newer than this roost knows ({SCHEMA_VERSION})",
                hint="upgrade roost",
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                current = self.db.execute("PRAGMA user_version").fetchone()[0]
                if current > number:  # another process migrated meanwhile
                    continue
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number + 1}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all of it lands, or none of it."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of one read-only statement (for the journal of events and spend)."""
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------ machines

    def get(self, name: str) -> MachineRecord | None:
        """The machine's record, or None."""
        rows = self.query(
            "SELECT name, backend, spec_json, state, facts_json, created_at, updated_at FROM machines WHERE name = ?",
            (name,),
        )
        return self._record(rows[0]) if rows else None

    def machines(self) -> list[MachineRecord]:
        """Every known machine, by name."""
        rows = self.query(
            "SELECT name, backend, spec_json, state, facts_json, created_at, updated_at FROM machines ORDER BY name"
        )
        return [self._record(row) for row in rows]

    @staticmethod
    def _record(row: tuple) -> MachineRecord:
        return MachineRecord(
            name=row[0],
            backend=row[1],
            spec=Spec.model_validate_json(row[2]),
            state=MachineState(row[3]),
            facts=MachineFacts.model_validate_json(row[4]),
            created_at=row[5],
            updated_at=row[6],
        )

    def save(self, record: MachineRecord) -> MachineRecord:
        """Insert or replace the machine's record in one transaction."""
        record = record.model_copy(update={"updated_at": time.time()})
        with self.transaction() as db:
            db.execute(
                "INSERT INTO machines VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "backend=excluded.backend, spec_json=excluded.spec_json, state=excluded.state, "
                "facts_json=excluded.facts_json, updated_at=excluded.updated_at",
                (
                    record.name,
                    record.backend,
                    record.spec.model_dump_json(by_alias=True),
                    record.state.value,
                    record.facts.model_dump_json(),
                    record.created_at,
                    record.updated_at,
                ),
            )
        return record

    def update(self, record: MachineRecord) -> float | None:
        """Write what a probe learned (state, facts) only if the record is still the one it read
        (same ``updated_at``): the record's new ``updated_at``, or None when another roost changed
        the machine or took it down meanwhile. A late prober never overwrites a stop, a start or a
        down that happened while it asked the machine, and never brings a record back."""
        now = time.time()
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE machines SET state = ?, facts_json = ?, updated_at = ? WHERE name = ? AND updated_at = ?",
                (record.state.value, record.facts.model_dump_json(), now, record.name, record.updated_at),
            ).rowcount
        return now if changed else None

    def set_state(self, name: str, state: MachineState) -> float:
        """Record a machine's lifecycle state; the record's new ``updated_at``."""
        now = time.time()
        with self.transaction() as db:
            db.execute("UPDATE machines SET state = ?, updated_at = ? WHERE name = ?", (state.value, now, name))
        return now

    def cache_statuses(self, probed: list[tuple[str, float, str]]) -> None:
        """Keep probed statuses (name, the record's ``updated_at`` the probe saw, status JSON), one
        transaction for all. A row stays valid only while the record is unchanged: any later
        write to the machine (stop, start, down, another probe's) makes it stale by itself."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO status_cache SELECT ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM machines WHERE name = ?)",
                [(name, seen, now, text, name) for name, seen, text in probed],
            )
            db.execute("DELETE FROM status_cache WHERE name NOT IN (SELECT name FROM machines)")

    def cached_statuses(self, max_age: float) -> dict[str, str]:
        """The status JSON of each machine probed less than ``max_age`` seconds ago whose record
        has not changed since."""
        rows = self.query(
            "SELECT c.name, c.status_json FROM status_cache c JOIN machines m "
            "ON m.name = c.name AND m.updated_at = c.seen_updated_at WHERE c.probed_at >= ?",
            (time.time() - max_age,),
        )
        return dict(rows)

    def delete(self, name: str) -> None:
        """Forget a machine and its steps."""
        with self.transaction() as db:
            db.execute("DELETE FROM machines WHERE name = ?", (name,))
            db.execute("DELETE FROM steps WHERE machine = ?", (name,))

    # ------------------------------------------------------------------ steps

    def step_done(self, machine: str, step: str, fingerprint: str) -> bool:
        """True when this step finished before with the same inputs."""
        rows = self.query("SELECT fingerprint, status FROM steps WHERE machine = ? AND step = ?", (machine, step))
        return bool(rows) and rows[0][0] == fingerprint and rows[0][1] == "done"

    def record_step(self, machine: str, step: str, fingerprint: str, status: str) -> None:
        """Record that a step started, finished or failed."""
        now = time.time()
        with self.transaction() as db:
            if status == "started":
                db.execute(
                    "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, 'started', ?, NULL)",
                    (machine, step, fingerprint, now),
                )
            else:
                db.execute(
                    "UPDATE steps SET status = ?, finished_at = ? WHERE machine = ? AND step = ?",
                    (status, now, machine, step),
                )

    def steps(self, machine: str) -> dict[str, str]:
        """Each recorded step of a machine and its status."""
        rows = self.query("SELECT step, status FROM steps WHERE machine = ? ORDER BY started_at", (machine,))
        return dict(rows)

    def forget_steps(self, machine: str) -> None:
        """Drop a machine's step records, so the next ``up`` does every step again."""
        with self.transaction() as db:
            db.execute("DELETE FROM steps WHERE machine = ?", (machine,))

    def close(self) -> None:
        """Close the connection (a later use opens it again)."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def find_record(name: str) -> MachineRecord | None:
    """One machine's record, or None, on a connection of its own (closed again)."""
    state = State()
    try:
        return state.get(name)
    finally:
        state.close()


@contextlib.contextmanager
def machine_lock(
    name: str, *, timeout: float = 900.0, home: Path | None = None, on_wait: object = None
) -> Iterator[None]:
    """Hold the machine's lock: a second roost working on the same name waits here.

    The lock is an ``flock`` on ``$ROOST_HOME/locks/NAME.lock``, released by the kernel if
    the holder dies, so a crashed roost never leaves a machine locked.
    """
    locks = (home or roost_home()) / "locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and callable(on_wait):
                    on_wait()
                    told = True
                if time.monotonic() > deadline:
                    raise LockTimeout(
                        f"another roost has been working on '{name}' for over {timeout:.0f}s",
                        hint="wait for it to finish, or end that roost process",
                    ) from None
                time.sleep(0.1)
        try:
            handle.write(json.dumps({"held_since": time.time()}))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
