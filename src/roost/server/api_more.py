"""``/api/v1``: services, backups, gateway users, costs, offers, events and the server itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

import roost
from roost.backups.store import BackupInfo
from roost.catalog.offers import Offer
from roost.lifecycle.housekeeping import MachineCost
from roost.lifecycle.machines import UpResult
from roost.machine import journal
from roost.server.deps import SpecBody, known, monitor_of, spec_of
from roost.service.status import ServiceStatus
from roost.watch.machines import ServicePoint

router = APIRouter(prefix="/api/v1")


class Costs(BaseModel):
    """What machines cost: each one's $/h and spend so far, spend per machine per day, $/h now."""

    machines: list[MachineCost]
    days: list[journal.DaySpend]
    hourly_usd_now: float


class NewUser(BaseModel):
    """A gateway user to add."""

    user: str


class UserPassword(BaseModel):
    """A new gateway user's password (shown this once)."""

    user: str
    password: str


class ServerState(BaseModel):
    """The server: its version, when the monitor last probed, every how many seconds."""

    version: str
    probed_at: float | None
    probe_every: float


@router.get("/services/{name}", tags=["services"])
def service(request: Request, name: str) -> ServiceStatus:
    """The service's replicas with their figures, and the controller's events."""
    known(request, name)
    return roost.serve_status(name)


@router.get("/services/{name}/history", tags=["services"])
def service_history(request: Request, name: str) -> list[ServicePoint]:
    """The service's per-replica figures over the last hour (one point per probe)."""
    known(request, name)
    return monitor_of(request).service_history(name)


@router.post("/services/{name}/update", tags=["services"])
def service_update(request: Request, name: str, body: SpecBody) -> UpResult:
    """Roll the service to a new spec, one replica at a time (``roost serve update``)."""
    known(request, name)
    result = roost.serve_update(name, spec_of(body))
    monitor_of(request).probe_soon()
    return result


@router.get("/machines/{name}/backups", tags=["backups"])
def backups(request: Request, name: str) -> list[BackupInfo]:
    """The machine's backups, oldest first."""
    known(request, name)
    return roost.list_backups(name)


@router.post("/machines/{name}/backups", tags=["backups"])
def take_backup(request: Request, name: str) -> BackupInfo:
    """Take a backup now."""
    known(request, name)
    return roost.backup(name)


@router.post("/machines/{name}/backups/{backup_id}/restore", tags=["backups"])
def restore(request: Request, name: str, backup_id: str, force: bool = False) -> BackupInfo:
    """Restore a backup onto the machine (refused when its data changed since, unless ``force``)."""
    known(request, name)
    return roost.restore(name, backup_id, force=force)


@router.get("/machines/{name}/users", tags=["gateway"])
def users(request: Request, name: str) -> list[str]:
    """The gateway's users of a shared machine."""
    known(request, name)
    return roost.users(name)


@router.post("/machines/{name}/users", tags=["gateway"])
def add_user(request: Request, name: str, body: NewUser) -> UserPassword:
    """Add a gateway user; the generated password is in this answer only."""
    known(request, name)
    return UserPassword(user=body.user, password=roost.add_user(name, body.user))


@router.delete("/machines/{name}/users/{user}", tags=["gateway"])
def remove_user(request: Request, name: str, user: str) -> list[str]:
    """Remove a gateway user (their password stops working at once); the users left."""
    known(request, name)
    roost.remove_user(name, user)
    return roost.users(name)


@router.get("/costs", tags=["money"])
def costs() -> Costs:
    """Each machine's $/h and spend so far, spend per day (as the monitor noted it), $/h now."""
    from roost.machine.state import State  # the journal is read on a connection of its own

    machines = roost.cost()
    state = State()
    try:
        days = journal.spend_by_day(state)
    finally:
        state.close()
    hourly = sum(m.hourly_usd for m in machines if m.state.value == "running")
    return Costs(machines=machines, days=days, hourly_usd_now=hourly)


@router.get("/offers", tags=["money"])
def offers(
    gpu: str | None = None,
    cpus: str | None = None,
    memory: str | None = None,
    spot: bool = False,
    region: str | None = None,
    arch: str | None = None,
    limit: int = 20,
) -> list[Offer]:
    """The cheapest offers that fit, cheapest first (values as in a spec: ``T4:2``, ``4+``, ``16GiB``)."""
    found = roost.offers(
        gpu=gpu or None, cpus=cpus or None, memory=memory or None, spot=spot, region=region or None, arch=arch or None
    )
    return found[: max(1, min(limit, 200))]


@router.get("/events", tags=["events"])
def events(machine: str | None = None, after: int = 0, limit: int = 200) -> list[journal.Event]:
    """What happened to machines (newest first): state and health changes the monitor saw."""
    from roost.machine.state import State

    state = State()
    try:
        return journal.events(state, machine, after=after, limit=min(max(limit, 1), 1000))
    finally:
        state.close()


@router.get("/server", tags=["server"])
def server(request: Request) -> ServerState:
    """The server's version and its monitor's last probe."""
    monitor = monitor_of(request)
    return ServerState(version=roost.__version__, probed_at=monitor.probed_at, probe_every=monitor.every)
