"""Services: an app as replicas behind the gateway's load balancer (``service:`` in a spec).

The replicas (:mod:`roost.serve.replicas`) run on the spec's machine, or spread over worker
machines (:mod:`roost.serve.placement`); path routes add replica groups (:mod:`roost.serve.routes`).
The gateway (Caddy) balances over them with an active probe, passive failure detection and
retries, so a dead replica gets no traffic; a new replica set reaches Caddy through its
admin API as a graceful reload, which keeps open connections. Not shared, the balancer
listens on the machine's 127.0.0.1 (reached through roost's tunnel); shared, on 443 with
TLS and a login, as any shared app. A controller under the agent keeps them healthy
(:mod:`roost.serve.controller`); ``roost serve status`` is :mod:`roost.serve.status`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from roost.errors import AppError, SpecError
from roost.serve.replicas import Replicas
from roost.serve.status import ReplicaStatus, ServiceStatus, status
from roost.session import MachineSession
from roost.spec.model import Spec
from roost.machine.steps import Step

if TYPE_CHECKING:
    from roost.lifecycle.machines import UpResult
    from roost.progress import Progress

__all__ = ["ReplicaStatus", "Replicas", "ServiceStatus", "check_capacity", "room", "status", "steps", "update"]


def steps(session: MachineSession, progress: Progress) -> list[Step]:
    """Bring the worker machines up, start (or roll) the replicas, then the balancer over them
    (then its CA, when shared), then the controller that keeps them healthy."""
    from roost.gateway import site as gateway
    from roost.serve.controller import pause_controller, start_controller
    from roost.serve.placement import up_workers
    from roost.serve.routes import steps as route_steps

    spec = session.record.spec
    assert spec.service and session.driver
    service, ports = spec.service, []
    routes_before, routes_after = route_steps(session)
    keeper = (f"start the autoscaler ({service.min}-{service.max} replicas, {service.target_rps:g} requests/s each)"
              if service.autoscaled else "start the controller (keeps every replica healthy)")
    return [
        *([Step("workers", f"bring up {service.machines - 1} worker machine(s)",
                lambda: up_workers(session, progress), always=True)] if service.machines > 1 else []),
        Step("capacity", "check the machines hold every replica", lambda: check_capacity(session), always=True),
        Step("controller-pause", "take the replicas back from the controller", lambda: pause_controller(session),
             always=True),
        *routes_before,
        Step("replicas", f"start {service.initial} replica(s) of {session.driver.name}",
             lambda: ports.extend(Replicas(session).converge()), always=True),
        Step("gateway", "start the load balancer", lambda: gateway.configure(session, ports), always=True),
        *routes_after,
        *(gateway.steps(session)[1:] if spec.share else []),
        Step("controller", keeper, lambda: start_controller(session), always=True),
    ]


def check_capacity(session: MachineSession) -> None:
    """Refuse replicas the machines cannot hold, saying what is missing (CPUs, memory) where."""
    from roost.serve.placement import worker_names, worker_session

    service, record = session.record.spec.service, session.record
    assert service
    need = service.resources
    if need.cpus is None and need.memory_gib is None:
        return
    count = -(-service.most // service.machines)  # the most replicas one machine holds
    for machine in [session, *(worker_session(name) for name in worker_names(record.spec))]:
        missing = _missing(machine, count, need.cpus, need.memory_gib)
        if missing:
            raise SpecError(f"machine '{machine.record.name}' cannot hold {count} replicas: " + "; ".join(missing)
                            + "; nothing was started", file=record.spec.source, field="service",
                            hint="lower replicas (or max), lower service.resources, spread over more machines, "
                                 "or use bigger ones")


def _size(session: MachineSession) -> tuple[int, float]:
    """The machine's CPUs and GiB of memory."""
    found = session.backend.runner(session.record).run("nproc; grep MemTotal /proc/meminfo", timeout=30).check(
        "read the machine's CPUs and memory").stdout.split()
    return int(found[0]), int(found[2]) / 1024 / 1024


def room(session: MachineSession) -> int | None:
    """How many replicas of ``service.resources`` the machine holds (None: no resources given)."""
    assert session.record.spec.service
    need = session.record.spec.service.resources
    if need.cpus is None and need.memory_gib is None:
        return None
    cpus, memory_gib = _size(session)
    fits = [int(cpus // need.cpus)] if need.cpus else []
    return min(fits + ([int(memory_gib // need.memory_gib)] if need.memory_gib else []))


def _missing(session: MachineSession, count: int, cpus_each: float | None, gib_each: float | None) -> list[str]:
    """What ``count`` replicas need beyond what the machine has (empty when it holds them)."""
    cpus, memory_gib = _size(session)
    missing = []
    if cpus_each and count * cpus_each > cpus:
        missing.append(f"{count} × {cpus_each:g} CPUs = {count * cpus_each:g} CPUs, it has {cpus} "
                       f"({count * cpus_each - cpus:g} missing)")
    if gib_each and count * gib_each > memory_gib:
        missing.append(f"{count} × {gib_each:g} GiB = {count * gib_each:g} GiB of memory, it has "
                       f"{memory_gib:.1f} GiB ({count * gib_each - memory_gib:.1f} GiB missing)")
    return missing


def update(name: str, target: str | Path | Spec, *, progress: Progress | None = None) -> UpResult:
    """Roll the running service ``name`` to the spec ``target``, one replica at a time with no
    failed request; a new release whose probe never answers is rolled back (the old one serves)."""
    from roost.lifecycle import machines as lifecycle
    from roost.machine.state import find_record

    spec = lifecycle.resolve_spec(target, name)
    record = find_record(name)
    if record is None or record.spec.service is None:
        raise AppError(f"no service '{name}' to update", hint="`roost serve SPEC` starts one")
    if spec.service is None:
        raise SpecError("the new spec has no 'service:' block", file=spec.source, field="service",
                        hint="keep the service block in the new release's spec")
    return lifecycle.up(spec, progress=progress, reconcile=True)
