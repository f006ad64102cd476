"""Managed jobs' reconciler: a driver thread for every unfinished job handed to the server."""

from __future__ import annotations

import threading

from roost.job.managed import Driver, managed_jobs


class ManagedJobs:
    """One step starts a driver for each unsettled managed job that has none (after a restart:
    every one the state database holds)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.drivers: dict[str, threading.Thread] = {}

    def step(self) -> None:
        """Start the drivers that are missing."""
        for job in managed_jobs():
            running = self.drivers.get(job.name)
            if job.settled or (running is not None and running.is_alive()):
                continue
            thread = threading.Thread(
                target=Driver(job.name, self.stopping).run, name=f"roost-job-{job.name}", daemon=True
            )
            self.drivers[job.name] = thread
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every driver to stop after its step in progress."""
        self.stopping.set()
        for thread in self.drivers.values():
            thread.join(timeout=timeout)
