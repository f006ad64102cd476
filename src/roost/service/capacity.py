"""Whether the service's machines hold its replicas (``service.resources``): CPUs and memory."""

from __future__ import annotations

from roost.errors import SpecError
from roost.service.placement import worker_names, worker_session
from roost.session import MachineSession


def check_capacity(session: MachineSession) -> None:
    """Refuse replicas the machines cannot hold, saying what is missing (CPUs, memory) where."""
    service, record = session.record.spec.service, session.record
    assert service
    need = service.resources
    if need.cpus is None and need.memory_gib is None:
        return
    count = -(-service.most // service.machines)  # the most replicas one machine holds
    for machine in [session, *(worker_session(name) for name in worker_names(record.spec))]:
        missing = _missing(machine, count, need.cpus, need.memory_gib)
        if missing:
            raise SpecError(
                f"machine '{machine.record.name}' cannot hold {count} replicas: "
                + "; ".join(missing)
                + "; nothing was started",
                file=record.spec.source,
                field="service",
                hint="lower replicas (or max), lower service.resources, spread over more machines, or use bigger ones",
            )


def _size(session: MachineSession) -> tuple[int, float]:
    """The machine's CPUs and GiB of memory."""
    found = (
        session.runner.run("nproc; grep MemTotal /proc/meminfo", timeout=30)
        .check("read the machine's CPUs and memory")
        .stdout.split()
    )
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
        missing.append(
            f"{count} × {cpus_each:g} CPUs = {count * cpus_each:g} CPUs, it has {cpus} "
            f"({count * cpus_each - cpus:g} missing)"
        )
    if gib_each and count * gib_each > memory_gib:
        missing.append(
            f"{count} × {gib_each:g} GiB = {count * gib_each:g} GiB of memory, it has "
            f"{memory_gib:.1f} GiB ({count * gib_each - memory_gib:.1f} GiB missing)"
        )
    return missing
