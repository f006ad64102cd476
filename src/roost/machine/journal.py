"""What happened to machines (events) and what each cost by day, kept in the state database.

The server and its monitor write here; ``roost`` commands and the dashboard read. An event's
message is for people and never holds a secret (callers pass what they would print).
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from roost.machine.state import State


class Event(BaseModel):
    """One thing that happened to a machine: when, what kind, in words."""

    id: int
    at: float
    machine: str
    kind: str
    message: str


class DaySpend(BaseModel):
    """What one machine had cost by the end of one day (UTC), and on that day alone."""

    day: str
    machine: str
    spend_usd: float
    """Spend up to the end of ``day`` (cumulative)."""
    day_usd: float
    """Spend on ``day`` alone."""


def record_event(state: State, machine: str, kind: str, message: str) -> None:
    """Append an event (one row, one transaction)."""
    with state.transaction() as db:
        db.execute(
            "INSERT INTO events (at, machine, kind, message) VALUES (?, ?, ?, ?)", (time.time(), machine, kind, message)
        )


def record_event_once(state: State, machine: str, kind: str, message: str, at: float) -> bool:
    """Append an event that happened at ``at`` elsewhere (on the machine) unless it is already
    recorded; True when it was new."""
    with state.transaction() as db:
        if db.execute("SELECT 1 FROM events WHERE machine = ? AND kind = ? AND at = ?", (machine, kind, at)).fetchone():
            return False
        db.execute("INSERT INTO events (at, machine, kind, message) VALUES (?, ?, ?, ?)", (at, machine, kind, message))
    return True


def mark(state: State, name: str) -> float:
    """How far the watcher ``name`` has got (0 before it started)."""
    rows = state.query("SELECT value FROM marks WHERE name = ?", (name,))
    return float(rows[0][0]) if rows else 0.0


def set_mark(state: State, name: str, value: float) -> None:
    """Note how far the watcher ``name`` has got."""
    with state.transaction() as db:
        db.execute(
            "INSERT INTO marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )


def events(state: State, machine: str | None = None, *, after: int = 0, limit: int = 200) -> list[Event]:
    """The latest ``limit`` events (of one machine, or all) with an id above ``after``, newest first
    (the events are ordered by when they were recorded: their ids)."""
    where, params = "id > ?", [after]
    if machine is not None:
        where, params = where + " AND machine = ?", [after, machine]  # type: ignore[list-item]
    rows = state.query(
        f"SELECT id, at, machine, kind, message FROM events WHERE {where} ORDER BY id DESC LIMIT ?", (*params, limit)
    )
    return [Event(id=r[0], at=r[1], machine=r[2], kind=r[3], message=r[4]) for r in rows]


def record_spend(state: State, machine: str, spend_usd: float, *, at: float | None = None) -> None:
    """Note a machine's spend so far (cumulative) for the day of ``at`` (UTC, default now)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() if at is None else at))
    with state.transaction() as db:
        db.execute(
            "INSERT INTO spend_days (day, machine, spend_usd) VALUES (?, ?, ?) "
            "ON CONFLICT (day, machine) DO UPDATE SET spend_usd = excluded.spend_usd",
            (day, machine, spend_usd),
        )


def spend_by_day(state: State, *, days: int = 30) -> list[DaySpend]:
    """Each machine's spend per day over the last ``days`` days noted, oldest first."""
    rows = state.query("SELECT day, machine, spend_usd FROM spend_days ORDER BY machine, day")
    result: list[DaySpend] = []
    previous: dict[str, float] = {}
    for day, machine, spend in rows:
        result.append(
            DaySpend(day=day, machine=machine, spend_usd=spend, day_usd=max(0.0, spend - previous.get(machine, 0.0)))
        )
        previous[machine] = spend
    cutoff = time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86400))
    return sorted((r for r in result if r.day > cutoff), key=lambda r: (r.day, r.machine))
