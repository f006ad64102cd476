"""The service verbs: ``roost serve SPEC``, ``serve update`` and ``serve status``."""

from __future__ import annotations

from pathlib import Path

from roost.errors import AppError, SpecError
from roost.lifecycle.machines import UpResult, resolve_spec, up
from roost.machine.state import find_record
from roost.progress import Progress
from roost.service.status import ServiceStatus
from roost.service.status import status as service_status
from roost.spec.model import Spec


def serve(
    target: str | Path | Spec, *, progress: Progress | None = None, accept_new_host_key: bool = False
) -> UpResult:
    """Bring the spec's service up: its replicas behind the load balancer, healthy. It always
    converges, so a worker machine that was lost and is back gets its replicas again."""
    spec = resolve_spec(target)
    if spec.service is None:
        raise SpecError(
            "this spec has no 'service:' block",
            file=spec.source,
            field="service",
            hint="add for example: service: {replicas: 2, probe: {path: /health}}",
        )
    return up(spec, progress=progress, accept_new_host_key=accept_new_host_key, reconcile=True)


def serve_update(name: str, target: str | Path | Spec, *, progress: Progress | None = None) -> UpResult:
    """Roll the running service ``name`` to the spec ``target``, one replica at a time with no
    failed request; a new release whose probe never answers is rolled back (the old one serves)."""
    spec = resolve_spec(target, name)
    record = find_record(name)
    if record is None or record.spec.service is None:
        raise AppError(f"no service '{name}' to update", hint="`roost serve SPEC` starts one")
    if spec.service is None:
        raise SpecError(
            "the new spec has no 'service:' block",
            file=spec.source,
            field="service",
            hint="keep the service block in the new release's spec",
        )
    return up(spec, progress=progress, reconcile=True)


def serve_status(name: str) -> ServiceStatus:
    """The service's replicas (where, health, restarts, load), routes and recent events."""
    return service_status(name)
