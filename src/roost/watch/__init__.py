"""The watchers: reconcilers that keep roost's promises while no roost command runs.

They run inside `roost server` and, for those who run no server, in the foreground as
`roost watch`: the machines' monitor (state, health, unreachable, spend, agents' events),
the backup shipper, the managed jobs' drivers and the notifier, each a loop of its own with its own interval.
"""

from __future__ import annotations

import threading

from roost.watch.backups import BackupShipper
from roost.watch.budgets import BudgetDowns
from roost.watch.jobs import ManagedJobs
from roost.watch.loop import Loop
from roost.watch.machines import Monitor
from roost.watch.notifier import Notifier


class Watchers:
    """Every reconciler, started and stopped together."""

    def __init__(self, *, probe_every: float = 10.0, ship_every: float = 5.0, notify_every: float = 2.0) -> None:
        self.monitor = Monitor(every=probe_every)
        self.shipper = BackupShipper()
        self.notifier = Notifier()
        self.jobs = ManagedJobs()
        self.loops = [
            Loop("backups", ship_every, self.shipper.step),
            Loop("notify", notify_every, self.notifier.step),
            Loop("jobs", 2.0, self.jobs.step),
            Loop("budgets", 5.0, BudgetDowns(self.monitor).step),
        ]

    def start(self) -> None:
        """Start every loop (each takes its first step at once)."""
        self.monitor.start()
        for loop in self.loops:
            loop.start()

    def poke_jobs(self) -> None:
        """Start a job just handed over now rather than at the next step."""
        self.loops[2].poke()

    def stop(self) -> None:
        """Stop every loop once its step in progress returns."""
        self.monitor.stop()
        for loop in self.loops:
            loop.stop()
        self.jobs.stop()

    def run_until(self, stop: threading.Event) -> None:
        """Run in the foreground until ``stop`` is set (`roost watch`: Ctrl-C or SIGTERM sets it)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
