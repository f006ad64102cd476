"""The server's background monitor: probes every machine on an interval and caches what it saw.

No request waits on a machine: the API and pages read this cache. Each probe records what
changed as events (state, health), notes each billed machine's spend for the day, and keeps
each service's per-replica figures for the last hour (the service page's charts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from roost.errors import RoostError
from roost.lifecycle.housekeeping import machine_cost
from roost.lifecycle.info import MachineStatus, known_status, probe
from roost.machine import journal
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import State
from roost.service.status import ServiceStatus
from roost.service.status import status as service_status

log = logging.getLogger("roost.server.monitor")
HISTORY_SECONDS = 3600.0
UNREACHABLE_BACKOFF_MAX = 300.0


class ReplicaPoint(BaseModel):
    """One replica's figures at one probe."""

    replica: str
    healthy: bool
    restarts: int
    requests_per_second: float | None
    errors_per_second: float | None
    mean_ms: float | None


class ServicePoint(BaseModel):
    """A service's figures at one probe (time in epoch seconds)."""

    at: float
    requests_per_second: float | None
    replicas: list[ReplicaPoint]


class Monitor:
    """Probes machines every ``every`` seconds in a thread of its own; see the module."""

    def __init__(self, every: float = 10.0, *, workers: int = 8) -> None:
        self.every = every
        self.workers = workers
        self.state = State()
        self._lock = threading.Lock()
        self._statuses: dict[str, tuple[float, MachineStatus]] = {}
        """Per machine: the record's updated_at when seen, and its status."""
        self._services: dict[str, deque[ServicePoint]] = {}
        self._service_now: dict[str, ServiceStatus] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._misses: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        """Per unreachable machine: probes missed in a row, and when to try it again."""
        self._agent_seen: dict[str, float] = {}
        """Per machine: the time of the newest agent event already in the journal."""
        self.probed_at: float | None = None
        """When the last whole probe ended (None before the first)."""

    def start(self) -> None:
        """Begin probing (the first probe at once)."""
        self._thread = threading.Thread(target=self._loop, name="roost-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the probing thread (within one machine's probe)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def probe_soon(self) -> None:
        """Probe again now rather than at the next interval (after the server changed something)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.probe_all()
            except Exception:  # the monitor must outlive a bug in one probe; the log keeps it
                log.exception("probe failed")
            self._wake.wait(self.every)
            self._wake.clear()

    def probe_all(self) -> None:
        """Probe every machine once (in parallel), then note spend and sample services."""
        records = self.state.machines()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            seen = list(pool.map(self._probe_one, records))
        # `roost status` shows these while they are fresh (see lifecycle.info.STATUS_MAX_AGE)
        self.state.cache_statuses([(r.name, r.updated_at, s.model_dump_json()) for r, s in zip(records, seen)])
        with self._lock:
            for record, status in zip(records, seen):
                self._remember(record, status)
            for gone in set(self._statuses) - {r.name for r in records}:
                del self._statuses[gone]
        self._note_spend(records)
        self._sample_services([r for r, s in zip(records, seen) if r.spec.service and s.state == MachineState.RUNNING])
        self.probed_at = time.time()

    def _probe_one(self, record: MachineRecord) -> MachineStatus:
        before = self._statuses.get(record.name)
        if before and before[1].state == MachineState.UNREACHABLE and time.time() < self._retry_at.get(record.name, 0):
            return before[1]  # backing off: an unreachable machine costs a connect timeout per probe
        try:
            found = probe(self.state, record)
        except RoostError as exc:
            log.info("probe of %s failed: %s", record.name, exc.message)
            found = known_status(record).model_copy(update={"state": MachineState.UNREACHABLE})
        if found.state == MachineState.UNREACHABLE:
            misses = self._misses[record.name] = self._misses.get(record.name, 0) + 1
            self._retry_at[record.name] = time.time() + min(UNREACHABLE_BACKOFF_MAX, self.every * 2 ** (misses - 1))
        else:
            self._misses.pop(record.name, None)
        return found

    def _remember(self, record: MachineRecord, status: MachineStatus) -> None:
        before = self._statuses.get(record.name)
        self._statuses[record.name] = (record.updated_at, status)
        self._import_agent_events(record.name, status)
        if before is None:
            return
        old = before[1]
        if old.state != status.state:
            why = f" ({status.stopped_by})" if status.stopped_by else ""
            journal.record_event(self.state, record.name, "state", f"{old.state.value} → {status.state.value}{why}")
        elif status.app and old.healthy != status.healthy and status.state == MachineState.RUNNING:
            word = "healthy" if status.healthy else "unhealthy"
            journal.record_event(self.state, record.name, "health", f"{status.app} is {word}")

    def _import_agent_events(self, name: str, status: MachineStatus) -> None:
        """Put what the agent did by itself (autostop, budget) in the journal, each once."""
        seen = self._agent_seen.get(name, 0.0)
        for event in status.agent_events:
            if event.at > seen:
                journal.record_event_once(self.state, name, event.kind, event.message, event.at)
                seen = event.at
        self._agent_seen[name] = seen

    def _import_replacements(self, name: str, found: ServiceStatus) -> None:
        """A replica the controller replaced (its machine lost) is an event, once."""
        for event in found.events:
            if event.get("event") == "replaced" and isinstance(event.get("at"), int | float):
                message = (
                    f"replica {event.get('replica')} on {event.get('machine', '?')} stopped answering; "
                    f"replaced by {event.get('by', '?')} on the gateway machine"
                )
                journal.record_event_once(self.state, name, "replica replaced", message, float(event["at"]))

    def _note_spend(self, records: list[MachineRecord]) -> None:
        for record in records:
            if record.facts.cloud and record.facts.cloud.hourly_usd:
                journal.record_spend(self.state, record.name, machine_cost(record).spend_usd)  # as `roost cost`

    def _sample_services(self, records: list[MachineRecord]) -> None:
        now = time.time()
        for record in records:
            if record.spec.service and record.spec.service.worker_of:
                continue
            try:
                found = service_status(record.name)
            except RoostError as exc:
                log.info("service %s: %s", record.name, exc.message)
                continue
            point = ServicePoint(
                at=now,
                requests_per_second=found.requests_per_second,
                replicas=[
                    ReplicaPoint(
                        replica=r.name,
                        healthy=r.healthy,
                        restarts=r.restarts,
                        requests_per_second=r.requests_per_second,
                        errors_per_second=r.errors_per_second,
                        mean_ms=r.mean_ms,
                    )
                    for r in found.replicas
                ],
            )
            self._import_replacements(record.name, found)
            with self._lock:
                history = self._services.setdefault(record.name, deque())
                history.append(point)
                while history and history[0].at < now - HISTORY_SECONDS:
                    history.popleft()
                self._service_now[record.name] = found

    def machines(self) -> list[MachineStatus]:
        """Every machine in the state, as last probed (a new one as its record says until probed)."""
        rows = self.state.query("SELECT name, updated_at FROM machines ORDER BY name")
        result = []
        with self._lock:
            cached = dict(self._statuses)
        for name, updated_at in rows:
            seen = cached.get(name)
            if seen is None or seen[0] != updated_at:
                record = self.state.get(name)
                if record is None:
                    continue
                status = known_status(record) if seen is None else _with_record(seen[1], record)
                with self._lock:
                    self._statuses[name] = (updated_at, status)
                seen = (updated_at, status)
            result.append(seen[1])
        return result

    def machine(self, name: str) -> MachineStatus | None:
        """One machine as last probed (None when the state does not know it)."""
        return next((m for m in self.machines() if m.name == name), None)

    def service_history(self, name: str) -> list[ServicePoint]:
        """The service's figures over the last hour, oldest first."""
        with self._lock:
            return list(self._services.get(name, ()))

    def service_now(self, name: str) -> ServiceStatus | None:
        """The service's status at the last probe."""
        with self._lock:
            return self._service_now.get(name)


def _with_record(status: MachineStatus, record: MachineRecord) -> MachineStatus:
    """A cached status updated with what a changed record says (its state, set by a verb)."""
    if record.state == status.state:
        return status
    return status.model_copy(
        update={"state": record.state, "healthy": False if record.state != "running" else status.healthy}
    )
