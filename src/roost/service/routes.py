"""A service's routes: replica groups under path prefixes of its address (``service.routes``).

A dashboard and the model endpoint it calls sit behind one HTTPS address and one login:
``/api/...`` goes to the ``/api`` route's replicas (the prefix stripped), everything else to
the app's. Each route's replicas run ``command`` (``{port}`` filled in) under the agent, with
the spec's ``packages`` on their PATH, probed on the route's probe path; the balancer checks
and retries them as it does the app's. The app's replicas reach a route without the login
at ``$ROOST_ROUTE_<NAME>``: a listener of the balancer on the machine's 127.0.0.1.

A changed route is replaced whole: the new replicas answer their probe before the balancer
moves to them, and the old ones stop after it did (so no request fails on the way).
"""

from __future__ import annotations

import functools
import time

from roost.agent.client import AppDefinition
from roost.gateway.site import RouteUpstreams
from roost.machine.steps import Step, fingerprint
from roost.service.base import DRAIN_SECONDS, free_ports, slug
from roost.session import MachineSession
from roost.spec.service import ServiceRoute


def definition(session: MachineSession, path: str, route: ServiceRoute, name: str, port: int) -> AppDefinition:
    """What the agent runs for one replica of a route."""
    spec, home = session.record.spec, session.record.facts.home
    command = route.command.replace("{port}", str(port))
    return AppDefinition(
        name=name,
        argv=["sh", "-c", f"exec {command}"],
        cwd=f"{home}/workdir",
        env={"HOME": f"{home}/home", **session.job_path(), **spec.envs},
        port=port,
        health_path=route.probe.path,
    )


def allocate(session: MachineSession) -> None:
    """Give every route its 127.0.0.1 listener port (kept for the service's life)."""
    spec, facts = session.record.spec, session.record.facts.service
    assert spec.service
    for path in spec.service.routes:
        if path not in facts.route_ports:
            facts.route_ports[path] = session.agent.free_port()
    for path in [path for path in facts.route_ports if path not in spec.service.routes]:
        facts.route_ports.pop(path)
    session.save()


def _never_answered(path: str, probe: str, name: str) -> str:
    return (f"the probe of route {path}'s replica {name} ({probe}) never answered; the route's replicas that "
            "served before still serve")  # fmt: skip


def converge(session: MachineSession) -> None:
    """Start each changed route's new replicas and wait for their probes; the old ones are
    kept (``route_retiring``) until the balancer has moved, see :func:`retire`."""
    spec, facts, agent = session.record.spec, session.record.facts.service, session.agent
    assert spec.service
    running = agent.status().apps
    for path, route in spec.service.routes.items():
        release = fingerprint(definition(session, path, route, "route", 0).model_dump())
        current = [(name, port) for name, port in facts.route_replicas.get(path, []) if name in running]
        if len(current) == route.replicas and facts.route_release.get(path) == release:
            continue
        taken = {port for group in facts.route_replicas.values() for _, port in group}
        new = []
        for port in free_ports(session, route.replicas, taken):
            facts.replica_serial += 1
            new.append((f"{slug(path)}-{facts.replica_serial}", port))
        digests = {name: agent.put_app(definition(session, path, route, name, port)) for name, port in new}
        session.save()
        hint = functools.partial(_never_answered, path, route.probe.path)
        try:
            agent.wait_all_healthy(digests, route.probe.ready_within_seconds, log_hint=hint)
        except BaseException:
            for name, _ in new:
                agent.remove_app(name)
            raise
        facts.route_retiring += facts.route_replicas.get(path, [])
        facts.route_replicas[path], facts.route_release[path] = new, release
        session.save()
    for path in [path for path in facts.route_replicas if path not in spec.service.routes]:
        facts.route_retiring += facts.route_replicas.pop(path)
        facts.route_release.pop(path, None)
    session.save()


def retire(session: MachineSession) -> None:
    """Stop the route replicas the balancer no longer sends to, after their requests drained."""
    facts = session.record.facts.service
    if not facts.route_retiring:
        return
    time.sleep(DRAIN_SECONDS)
    for name, _ in facts.route_retiring:
        session.agent.remove_app(name)
    facts.route_retiring = []
    session.save()


def upstreams(session: MachineSession) -> RouteUpstreams:
    """For the Caddyfile: (path, replica ports, probe, 127.0.0.1 listener port) per route."""
    spec, facts = session.record.spec, session.record.facts.service
    if spec.service is None:
        return []
    return [
        (path, [port for _, port in facts.route_replicas.get(path, [])], route.probe, facts.route_ports[path])
        for path, route in spec.service.routes.items()
        if facts.route_replicas.get(path) and path in facts.route_ports
    ]


def steps(session: MachineSession) -> tuple[list[Step], list[Step]]:
    """(before the balancer: ports and replicas; after it: the old replicas stopped)."""
    routes = session.record.spec.service.routes if session.record.spec.service else {}
    if not routes and not session.record.facts.service.route_replicas:
        return [], []
    names = ", ".join(sorted(routes)) or "none left"
    return (
        [
            Step("route-ports", "choose the routes' ports", lambda: allocate(session), always=True),
            Step("routes", f"start the routes' replicas ({names})", lambda: converge(session), always=True),
        ],
        [Step("routes-retire", "stop the routes' old replicas", lambda: retire(session), always=True)],
    )
