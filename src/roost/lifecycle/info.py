"""Read-only verbs: status, how to open an app, its password, its logs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, Field

from roost.agent.client import AgentEvent, AgentStatus
from roost.apps import AppDriver, app_driver
from roost.backends import get_backend
from roost.errors import AppError, RoostError
from roost.lifecycle.health import healthy, healthy_in
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import State
from roost.machine.vault import Vault
from roost.session import MachineSession, load_session, open_session
from roost.transport.base import Result


class MachineStatus(BaseModel):
    """One machine as ``roost status`` shows it: live state, app health, URL."""

    name: str
    backend: str
    state: MachineState
    app: str | None
    healthy: bool
    url: str | None
    restarts: int = 0
    app_pid: int | None = None
    gpus: int = 0
    stopped_by: str | None = None
    instance_type: str | None = None
    hourly_usd: float = 0.0
    """What it costs per hour while it runs (0 where nothing bills)."""
    service: bool = False
    """It runs a service (replicas behind a balancer: ``roost serve status``)."""
    autostop_at: float | None = None
    """When the agent stops it unless something happens first (epoch seconds; None: no autostop)."""
    spent_usd: float | None = None
    """What it has cost as its agent metered it (machines with a budget)."""
    budget_usd: float | None = None
    agent_events: list[AgentEvent] = Field(default_factory=list, exclude=True)
    """What the agent did by itself (autostop, budget), newest last: for the watchers."""


class OpenInfo(BaseModel):
    """How to reach an app: its URL and how to log in (never the secret itself)."""

    name: str
    url: str
    login: str


def _driver_of(session: MachineSession) -> AppDriver:
    if session.driver is None:
        raise AppError(
            f"machine '{session.record.name}' has no app",
            hint=f"for a job's output: `roost jobs {session.record.name}`, then `roost logs NAME JOB`",
        )
    return session.driver


def _status_of(session: MachineSession) -> MachineStatus:
    record = session.record
    try:
        live = session.backend.status(record)
    except RoostError:
        live = MachineState.UNREACHABLE
    app, driver, agent = None, session.driver, None
    if live == MachineState.RUNNING and record.facts.home is None:
        live = MachineState.PROVISIONING  # created, never reached: an interrupted `up`
    if live in (MachineState.RUNNING, MachineState.STOPPED) and record.facts.home is not None:
        try:
            agent = session.agent.status()
        except RoostError:
            # a stopped cloud machine is powered off: nothing to ask, and nothing wrong
            if live == MachineState.RUNNING or not session.backend.powers_off:
                live = MachineState.UNREACHABLE
        if agent is not None and driver is not None and live == MachineState.RUNNING:
            app = agent.apps.get("gateway" if record.spec.service else driver.name)  # a service: its balancer
            if record.spec.service and app is not None and not healthy_in(session, agent):
                app = app.model_copy(update={"healthy": False})  # a replica is down
    if live != record.state:
        if live in (MachineState.STOPPED, MachineState.TERMINATED):
            session.backend.bank_stopped(record)  # stopped by itself: billing ended when it stopped
        record.state = live
        # not save(): what another roost did to the machine while it was asked stands
        record.updated_at = session.state.update(record) or record.updated_at
    return MachineStatus(
        name=record.name,
        backend=record.backend,
        state=live,
        app=driver.name if driver else None,
        healthy=bool(app and app.healthy),
        url=session.url() if app and record.facts.app.port else None,
        restarts=app.restarts if app else 0,
        app_pid=app.pid if app else None,
        gpus=len(agent.agent.gpus) if agent else 0,
        stopped_by=agent.agent.reason if agent and live == MachineState.STOPPED else None,
        instance_type=record.facts.cloud.instance_type if record.facts.cloud else None,
        hourly_usd=record.facts.cloud.hourly_usd if record.facts.cloud else 0.0,
        autostop_at=_autostop_at(agent) if live == MachineState.RUNNING else None,
        service=bool(record.spec.service),
        spent_usd=agent.meter.spent_usd if agent else None,
        budget_usd=agent.meter.max_usd if agent else None,
        agent_events=agent.meter.events if agent else [],
    )


def _autostop_at(agent: AgentStatus | None) -> float | None:
    if agent is None or not agent.agent.autostop_seconds or agent.last_activity is None:
        return None
    return agent.last_activity + agent.agent.autostop_seconds


def known_status(record: MachineRecord) -> MachineStatus:
    """A machine as its record last saw it, probing nothing (health unknown: False)."""
    driver = app_driver(record.spec)
    return MachineStatus(
        name=record.name,
        backend=record.backend,
        state=record.state,
        app=driver.name if driver else None,
        healthy=False,
        url=None,
        instance_type=record.facts.cloud.instance_type if record.facts.cloud else None,
        hourly_usd=record.facts.cloud.hourly_usd if record.facts.cloud else 0.0,
        service=bool(record.spec.service),
    )


def probe(state: State, record: MachineRecord) -> MachineStatus:
    """One machine's live status (asks its backend and agent), on a caller's state connection
    (``record.updated_at`` follows what the probe wrote, for the status cache)."""
    return _status_of(MachineSession(state, record))


def status(name: str | None = None, *, max_age: float = 0.0) -> list[MachineStatus]:
    """The status of one machine, or of every machine roost knows, in name order. Each machine
    is probed (its backend and agent asked) unless a watcher (`roost server`, `roost watch`)
    probed it less than ``max_age`` seconds ago and its record has not changed since: then that
    probe's answer stands (`roost status` allows STATUS_MAX_AGE; the default, 0, probes all)."""
    state = State()
    try:
        records = [open_session(state, name).record] if name else state.machines()
        cached = state.cached_statuses(max_age) if max_age > 0 else {}
        sessions = [MachineSession(state, record) for record in records if record.name not in cached]
        probed = _probe_all(sessions)
        fresh = {machine.name: machine for machine in probed}
        found = [fresh.get(r.name) or MachineStatus.model_validate_json(cached[r.name]) for r in records]
        if name is None:  # a machine another roost took down while it was probed is not listed
            kept = {row[0] for row in state.query("SELECT name FROM machines")}
            found = [machine for machine in found if machine.name in kept]
        return found
    finally:
        state.close()


def _probe_all(sessions: list[MachineSession]) -> list[MachineStatus]:
    if len(sessions) < 2:
        return [_status_of(session) for session in sessions]
    # each probe mostly waits on its machine: many at once, answers in the sessions' order
    with ThreadPoolExecutor(max_workers=min(PROBES_AT_ONCE, len(sessions))) as pool:
        return list(pool.map(_status_of, sessions))


PROBES_AT_ONCE = 16


def open_info(name: str) -> OpenInfo:
    """The app's URL and how to log in; the app must be running."""
    state = State()
    try:
        session = open_session(state, name)
        driver = _driver_of(session)
        if not healthy(session):
            raise AppError(f"the app on '{name}' is not running", hint=f"run `roost start {name}` or `roost up`")
        return OpenInfo(name=name, url=session.url() or "", login=driver.login_hint(session.context()))
    finally:
        state.close()


def password(name: str) -> str:
    """The app password roost generated for this machine (kept 0600 on this computer)."""
    record = load_session(name).record
    driver = app_driver(record.spec)
    if driver is None:
        raise AppError(f"machine '{name}' has no app, so no app password")
    value = Vault(name).get(driver.secret_key) if driver.secret_key else None
    if value is None:
        raise AppError(f"the app on '{name}' has no password roost made", hint="run `roost up` first")
    return value


def logs(
    name: str, *, lines: int = 100, follow: bool = False, on_output: Callable[[str], None] | None = None
) -> Result:
    """Print the app's log (the last ``lines``), following it with ``follow`` until interrupted."""
    session = load_session(name)
    if (
        session.record.facts.home is None
        or get_backend(session.record.backend).status(session.record) == MachineState.TERMINATED
    ):
        raise AppError(f"machine '{name}' has no logs: it was never provisioned or no longer exists")
    app = _driver_of(session).name
    if session.record.spec.service and session.record.facts.service.replica_names:
        app = session.record.facts.service.replica_names[0]  # a service: its first replica
    return session.agent.logs(app, lines=lines, follow=follow, on_output=on_output)
