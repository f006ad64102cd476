"""Finish ``budget: {then: down}`` where the agent cannot: it stops an SSH or local machine at
its cap by itself; taking the machine down (its files, its record) is a client's verb, so the
watchers do it once they see the machine stopped by its budget. (On AWS the agent's power-off
terminates the instance itself.) `roost up` refuses ``then: down`` for an app that holds data."""

from __future__ import annotations

import logging

from roost.errors import LockTimeout
from roost.lifecycle import machines as lifecycle
from roost.machine import journal
from roost.machine.record import MachineState
from roost.machine.state import State
from roost.watch.machines import Monitor

log = logging.getLogger("roost.watch.budgets")


class BudgetDowns:
    """One step takes down every machine its agent stopped at a ``then: down`` budget."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.state = State()

    def step(self) -> None:
        """Down what is due (as the monitor last saw the machines)."""
        for status in self.monitor.machines():
            if status.state != MachineState.STOPPED or status.stopped_by != "budget" or status.backend == "aws":
                continue
            record = self.state.get(status.name)
            if record is None or record.spec.budget is None or record.spec.budget.then != "down":
                continue
            try:
                lifecycle.down(status.name, no_backup=True)  # the cap came first: nothing runs to back up
            except LockTimeout:
                continue  # a roost command is working on it: next round
            journal.record_event(self.state, status.name, "budget", "taken down at its budget (then: down)")
            log.info("%s taken down at its budget", status.name)
