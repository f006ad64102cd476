"""Reads of the state database that load neither pydantic nor roost's models, for the CLI's
quick verbs (`roost status` from the watchers' status cache, `roost exec` over a warm
connection): each answers in well under 0.1 s, where loading the full CLI takes ~0.4 s.

Everything here only reads. Anything unexpected (no database yet, an older schema, a row
that does not parse) is :class:`Unsure`, and the caller hands the command to the full CLI,
which knows how to migrate, probe and explain.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple

STATUS_MAX_AGE = 30.0
"""How old a watcher's probe `roost status` shows without probing again (`--live`: none). A
running `roost server` or `roost watch` probes every machine each 10 s by default, so what it
shows is at most that old."""

CACHE_SCHEMA = 4  # the state database's version that has the status_cache table


class Unsure(Exception):
    """The quick path cannot answer for certain: the full CLI must."""


class MachineRow(NamedTuple):
    """What the quick ``exec`` needs of a machine's record."""

    name: str
    backend: str
    state: str
    home: str | None


def _open(home: Path) -> sqlite3.Connection:
    path = home / "state.db"
    if not path.is_file():
        raise Unsure("no state database yet")
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_SCHEMA:
        db.close()
        raise Unsure("another schema: the full CLI migrates it")
    return db


def cached_statuses(home: Path, name: str | None, max_age: float = STATUS_MAX_AGE) -> list[dict]:
    """Every machine's (or one machine's) status as a watcher last probed it, in name order, as
    the JSON of ``roost.lifecycle.info.MachineStatus``; Unsure when any is older than
    ``max_age``, missing, or its record changed since (then the machine must be probed)."""
    try:
        db = _open(home)
        try:
            rows = db.execute(
                "SELECT m.name, c.status_json, c.probed_at FROM machines m LEFT JOIN status_cache c "
                "ON c.name = m.name AND c.seen_updated_at = m.updated_at "
                "WHERE ? IS NULL OR m.name = ? ORDER BY m.name",
                (name, name),
            ).fetchall()
        finally:
            db.close()
        if name is not None and not rows:
            raise Unsure("no such machine: the full CLI says so")
        oldest = time.time() - max_age
        if any(text is None or probed_at < oldest for _, text, probed_at in rows):
            raise Unsure("a machine needs a probe")
        return [json.loads(text) for _, text, _ in rows]
    except (sqlite3.Error, ValueError) as exc:
        raise Unsure(str(exc)) from None


def machine_row(home: Path, name: str) -> MachineRow:
    """The machine's backend, state and home folder; Unsure when there is no such machine."""
    try:
        db = _open(home)
        try:
            row = db.execute("SELECT backend, state, facts_json FROM machines WHERE name = ?", (name,)).fetchone()
        finally:
            db.close()
        if row is None:
            raise Unsure("no such machine: the full CLI says so")
        return MachineRow(name=name, backend=row[0], state=row[1], home=json.loads(row[2]).get("home"))
    except (sqlite3.Error, ValueError) as exc:
        raise Unsure(str(exc)) from None
