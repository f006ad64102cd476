"""Services: an app as replicas behind the gateway's load balancer (``service:`` in a spec).

Each replica is the app's own definition on a port of its own, supervised by the agent
(a replica that dies is restarted with backoff) and named ``APP-1``, ``APP-2``, ... The
gateway (Caddy) balances over them with an active probe, passive failure detection and
retries, so a dead replica gets no traffic; a new replica set reaches Caddy through its
admin API as a graceful reload, which keeps open connections. Not shared, the balancer
listens on the machine's 127.0.0.1 (reached through roost's tunnel); shared, on 443 with
TLS and a login, as any shared app.
"""

from __future__ import annotations

import json
import time

from pydantic import BaseModel

from roost.apps import AppContext
from roost.errors import AppError
from roost.session import MachineSession, load_session
from roost.steps import Step


class ReplicaStatus(BaseModel):
    """One replica as the agent and the balancer see it."""

    name: str
    port: int
    state: str
    healthy: bool
    restarts: int
    pid: int | None
    in_flight: int | None = None
    """Requests Caddy has open to it now (None when the balancer did not answer)."""
    fails: int | None = None
    """Recent failures Caddy counted against it (passive detection)."""


class ServiceStatus(BaseModel):
    """A service: its replicas, its address and its request rate."""

    name: str
    url: str | None
    replicas: list[ReplicaStatus]
    requests_per_second: float | None = None


def replica_name(app: str, index: int) -> str:
    """The agent's name for replica ``index`` (from 1)."""
    return f"{app}-{index}"


def _allocate_ports(session: MachineSession, count: int) -> list[int]:
    """Keep the replicas' ports across runs; add free ones for new replicas."""
    facts = session.record.facts
    ports = list(facts.replica_ports[:count])
    while len(ports) < count:
        port = session.agent.free_port()
        if port not in ports and port != facts.app_port and port != facts.gateway_health_port:
            ports.append(port)
    facts.replica_ports = ports
    session.save()
    return ports


def _replica_context(ctx: AppContext, port: int) -> AppContext:
    record = ctx.record.model_copy(update={"facts": ctx.record.facts.model_copy(update={"app_port": port})})
    return AppContext(record=record, runner=ctx.runner, agent=ctx.agent, make_tools=ctx.make_tools,
                      vault=ctx.vault, public_host=ctx.public_host)


def start_replicas(session: MachineSession) -> list[int]:
    """Register the declared replicas with the agent (and remove extra ones); their ports."""
    spec, driver, ctx = session.record.spec, session.driver, session.context()
    assert spec.service and driver
    ports = _allocate_ports(session, spec.service.initial)
    digests = {}
    for index, port in enumerate(ports, start=1):
        definition = driver.definition(_replica_context(ctx, port))
        definition = definition.model_copy(update={"name": replica_name(driver.name, index),
                                                   "health_path": spec.service.probe.path})
        digests[definition.name] = ctx.agent.put_app(definition)
    for name in ctx.agent.status().apps:
        if name.startswith(f"{driver.name}-") and name not in digests:
            ctx.agent.remove_app(name)
    deadline = time.monotonic() + spec.service.probe.ready_within_seconds
    for name, digest in digests.items():
        ctx.agent.wait_healthy(name, max(1.0, deadline - time.monotonic()), digest=digest,
                               log_hint=f"the probe of replica {name} never answered; nothing else was changed")
    return ports


def steps(session: MachineSession) -> list[Step]:
    """Start the replicas, then the balancer over them (then its CA, when shared)."""
    from roost import gateway

    spec = session.record.spec
    assert spec.service and session.driver
    ports: list[int] = []
    return [
        Step("replicas", f"start {spec.service.initial} replica(s) of {session.driver.name}",
             lambda: ports.extend(start_replicas(session)), always=True),
        Step("gateway", "start the load balancer", lambda: gateway.configure(session, ports), always=True),
        *(gateway.steps(session)[1:] if spec.share else []),
    ]


def status(name: str) -> ServiceStatus:
    """The service's replicas (agent: state, health, restarts; Caddy: open requests, failures)
    and its requests per second over one second."""
    session = load_session(name)
    spec, driver = session.record.spec, session.driver
    if spec.service is None or driver is None:
        raise AppError(f"machine '{name}' runs no service", hint="add 'service:' to its spec and `roost serve` it")
    apps = session.agent.status().apps
    seen = {entry["address"]: entry for entry in _admin_json(session, "/reverse_proxy/upstreams") or []}
    replicas = []
    for index, port in enumerate(session.record.facts.replica_ports, start=1):
        app = apps.get(replica_name(driver.name, index))
        caddy = seen.get(f"127.0.0.1:{port}", {})
        replicas.append(ReplicaStatus(name=replica_name(driver.name, index), port=port,
                                      state=app.state if app else "missing", healthy=bool(app and app.healthy),
                                      restarts=app.restarts if app else 0, pid=app.pid if app else None,
                                      in_flight=caddy.get("num_requests"), fails=caddy.get("fails")))
    return ServiceStatus(name=name, url=session.url(), replicas=replicas,
                         requests_per_second=_request_rate(session))


def _admin_json(session: MachineSession, path: str) -> object | None:
    """GET ``path`` from Caddy's admin socket on the machine (None when it does not answer)."""
    from roost import gateway

    socket_path = gateway.admin_socket(session)
    code = ("import json,socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\ns.connect(sys.argv[1])\n"
            "s.sendall(b'GET '+sys.argv[2].encode()+b' HTTP/1.0\\r\\nHost: \\r\\n\\r\\n')\n"
            "data=b''\nwhile True:\n    chunk=s.recv(65536)\n    if not chunk: break\n    data+=chunk\n"
            "sys.stdout.write(data.split(b'\\r\\n\\r\\n',1)[1].decode())\n")
    result = session.agent.runner.run(["python3", "-c", code, socket_path, path], timeout=30, check=False)
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
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("caddy_http_requests_total{"))

    first = total()
    started = time.monotonic()
    time.sleep(1.0)
    second = total()
    if first is None or second is None:
        return None
    return max(0.0, second - first) / (time.monotonic() - started)
