"""``roost serve status``: a service's replicas as the agents and the balancer see them."""

from __future__ import annotations

import json
import time

from pydantic import BaseModel

from roost.agent.client import AppStatus
from roost.errors import AppError, RoostError
from roost.gateway import site as gateway
from roost.service.controller import CONTROLLER, controller_state, serving, serving_remote
from roost.service.placement import worker_names, worker_session
from roost.session import MachineSession, load_session


class ReplicaStatus(BaseModel):
    """One replica as the agent and the balancer see it."""

    name: str
    machine: str
    """The machine it runs on (the gateway machine, or a worker machine of the service)."""
    port: int
    """Its port on the gateway machine's 127.0.0.1 (a tunnel's, for a replica on a worker)."""
    state: str
    healthy: bool
    restarts: int
    pid: int | None
    in_flight: int | None = None
    """Requests Caddy has open to it now (None when the balancer did not answer)."""
    fails: int | None = None
    """Recent failures Caddy counted against it (passive detection)."""
    requests: int | None = None
    """Requests it answered within the service's window (None while no controller counts them)."""
    requests_per_second: float | None = None
    """Requests it answered per second over the service's window."""
    errors_per_second: float | None = None
    """Requests sent to it per second that failed (an error, or a status of 500 or more)."""
    mean_ms: float | None = None
    """Its mean response time (to the response headers) seen by the balancer, in milliseconds."""


class ServiceStatus(BaseModel):
    """A service: its replicas, its address and its request rate."""

    name: str
    url: str | None
    replicas: list[ReplicaStatus]
    requests_per_second: float | None = None
    desired: int | None = None
    """The autoscaler's wanted count (None when the service does not autoscale)."""
    window_seconds: float | None = None
    """The window of the replicas' request counts (the service's ``window``)."""
    routes: dict[str, list[ReplicaStatus]] = {}
    """Each route's replicas (``service.routes``), by path."""
    events: list[dict] = []
    """What the controller did lately (``at`` epoch seconds, ``event``: added, removed, restarted,
    replaced, no room; ``replica``; for a replacement the lost ``machine`` and the new replica
    ``by``; for "no room" the replicas here of how many fit, and the ``reason``)."""


def status(name: str) -> ServiceStatus:
    """The service's replicas (agent: state, health, restarts; Caddy: open requests, failures;
    the controller: requests/s, errors/s and mean response time per replica over the window)
    and the service's requests per second over one second."""
    session = load_session(name)
    spec, driver = session.record.spec, session.driver
    if spec.service is None or driver is None:
        raise AppError(f"machine '{name}' runs no service", hint="add 'service:' to its spec and `roost serve` it")
    apps = session.agent.status().apps
    upstreams = _admin_json(session, "/reverse_proxy/upstreams")
    seen = {entry["address"]: entry for entry in upstreams} if isinstance(upstreams, list) else {}
    state = controller_state(session) or {}
    # counts are the running controller's (the machine's clock may differ from this one's)
    counted = state.get("upstreams") if CONTROLLER in apps and apps[CONTROLLER].state == "running" else None
    replicas, remote, workers = [], serving_remote(session, apps, state), _worker_apps(session)
    for replica, port in serving(session, apps, state):
        app = apps.get(replica)  # the replica, or the tunnel to it (healthy when the replica answers through it)
        machine = remote[replica][0] if replica in remote else name
        if machine == name:
            there, there_state = app, app.state if app else "missing"
        else:
            there = workers[machine].get(replica) if machine in workers else None
            there_state = there.state if there else ("missing" if machine in workers else "unreachable")
        replicas.append(_replica_status(replica, machine, port, app, there, there_state, seen, counted))
    routes = {
        path: [
            _replica_status(
                replica,
                name,
                port,
                apps.get(replica),
                apps.get(replica),
                apps[replica].state if replica in apps else "missing",
                seen,
                counted,
            )
            for replica, port in group
        ]
        for path, group in session.record.facts.service.route_replicas.items()
    }
    return ServiceStatus(
        name=name,
        url=session.url(),
        replicas=replicas,
        routes=routes,
        requests_per_second=_request_rate(session),
        events=state.get("events", [])[-10:],
        desired=state.get("desired") if spec.service.autoscaled else None,
        window_seconds=state.get("window_seconds") if counted is not None else None,
    )


def _replica_status(
    name: str,
    machine: str,
    port: int,
    front: AppStatus | None,
    back: AppStatus | None,
    state: str,
    seen: dict,
    counted: dict | None,
) -> ReplicaStatus:
    """One replica: ``front`` is what the gateway machine's agent runs for it (the replica, or
    the tunnel to it), ``back`` the replica itself; ``seen``: Caddy's upstreams by address;
    ``counted``: the controller's request counts by address (None when it does not run)."""
    address = f"127.0.0.1:{port}"
    caddy = seen.get(address, {})
    rates: dict = {}
    if counted is not None:  # a replica with no round trip in the window has none counted
        found = counted.get(address, {})
        rates = {
            "requests": found.get("requests", 0),
            "requests_per_second": found.get("requests_per_second", 0.0),
            "errors_per_second": found.get("errors_per_second", 0.0),
            "mean_ms": found.get("mean_ms"),
        }
    return ReplicaStatus(
        name=name,
        machine=machine,
        port=port,
        state=state,
        healthy=bool(front and front.healthy and back and back.healthy),
        restarts=back.restarts if back else 0,
        pid=back.pid if back else None,
        in_flight=caddy.get("num_requests"),
        fails=caddy.get("fails"),
        **rates,
    )


def _worker_apps(session: MachineSession) -> dict[str, dict]:
    """What each worker machine's agent runs (a worker that does not answer is left out)."""
    found = {}
    for machine in worker_names(session.record.spec):
        try:
            found[machine] = worker_session(machine).agent.status().apps
        except RoostError:
            continue
    return found


def _admin_json(session: MachineSession, path: str) -> object | None:
    """GET ``path`` from Caddy's admin socket on the machine, through the agent (None when it
    does not answer); JSON parsed, other text as it is."""
    agent = session.agent
    result = agent.runner.run(agent.command("http-get", gateway.admin_socket(session), path), timeout=30, check=False)
    if not result.ok:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return result.stdout


def _request_rate(session: MachineSession) -> float | None:
    """Requests per second through the balancer, from Caddy's request counter sampled 1 s apart."""

    def total() -> float | None:
        text = _admin_json(session, "/metrics")
        if not isinstance(text, str):
            return None
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("caddy_http_requests_total{")
        )

    first = total()
    started = time.monotonic()
    time.sleep(1.0)
    second = total()
    if first is None or second is None:
        return None
    return max(0.0, second - first) / (time.monotonic() - started)
