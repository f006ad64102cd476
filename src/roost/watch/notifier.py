"""Send the events the watchers record to the machine's notify targets, each event once.

The agent sends what it does by itself (autostopped, budget warning and reached); this sends
what only a watcher sees: a machine unreachable, a backup that failed, a replica replaced, a
job that ended. How far it has got is kept in the state database, so a restarted server
neither repeats nor skips an event; events from before its first start are not sent.
"""

from __future__ import annotations

from roost.machine import journal
from roost.machine.journal import Event
from roost.machine.state import State
from roost.notify.send import send
from roost.notify.targets import machine_targets

MARK = "notified-event"
SENT_BY_WATCHERS = ("backup failed", "replica replaced", "job succeeded", "job failed", "job recovered")


def worth_sending(event: Event) -> bool:
    """True for the events a person wants to hear of (not every state change or shipment)."""
    if event.kind == "state":
        return event.message.endswith("unreachable")
    return event.kind in SENT_BY_WATCHERS


class Notifier:
    """One step sends every new event worth sending to its machine's targets."""

    def __init__(self) -> None:
        self.state = State()
        self.sent = 0
        self.targets: dict[str, list[str]] = {}
        """Each machine's targets as last read: a machine taken down right after its event (a
        job's end with --down) has lost its vault, and its event is still sent there."""
        self._read_at: dict[str, float] = {}  # the record's updated_at when its targets were read

    def _refresh_targets(self) -> None:
        """Read again the targets of machines whose record changed (an `up` writes both):
        a step costs one query, not a vault read per machine."""
        for name, updated_at in self.state.query("SELECT name, updated_at FROM machines"):
            if self._read_at.get(name) != updated_at:
                self.targets[name] = machine_targets(name)
                self._read_at[name] = updated_at

    def step(self) -> None:
        """Send the events recorded since the last step, oldest first."""
        self._refresh_targets()
        after = int(journal.mark(self.state, MARK))
        if after == 0:  # first start: begin at now
            newest = journal.events(self.state, limit=1)
            journal.set_mark(self.state, MARK, newest[0].id if newest else -1)
            return
        for event in reversed(journal.events(self.state, after=max(after, 0), limit=500)):
            if worth_sending(event):
                targets = machine_targets(event.machine) or self.targets.get(event.machine, [])
                if targets and send(targets, f"roost: {event.machine}: {event.kind}", event.message):
                    self.sent += 1
            journal.set_mark(self.state, MARK, event.id)
