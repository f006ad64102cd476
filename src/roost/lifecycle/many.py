"""Several machines brought up side by side: the nodes of a multi-node job, a service's workers.

Each machine comes up in its own thread with its own lock, state connection and progress
rows (titled with its name). When one fails, the machines this call created are taken down
(as a failed new machine is), those that existed before are left as they were, and the first
failure is raised.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from roost.errors import RoostError
from roost.machine.state import State
from roost.progress import Named, Progress
from roost.spec.model import Spec

Result = TypeVar("Result")


def up_side_by_side(
    specs: Sequence[Spec],
    *,
    up: Callable[..., Result],
    down: Callable[..., object],
    progress: Progress,
    accept_new_host_key: bool,
) -> list[Result]:
    """Bring every spec's machine up at once with ``up`` (reconciled, like a job's); all up, or
    none of the new ones (taken down with ``down``)."""
    existed = _existing({spec.name for spec in specs})
    with ThreadPoolExecutor(max_workers=max(len(specs), 1), thread_name_prefix="roost-up") as pool:
        futures: list[Future[Result]] = [
            pool.submit(
                contextvars.copy_context().run,  # each thread reports where the caller does
                up,
                spec,
                progress=Named(progress, spec.name) if len(specs) > 1 else progress,
                accept_new_host_key=accept_new_host_key,
                reconcile=True,
            )
            for spec in specs
        ]
    failures = [(spec, future.exception()) for spec, future in zip(specs, futures) if future.exception()]
    if not failures:
        return [future.result() for future in futures]
    for spec, future in zip(specs, futures):
        if future.exception() is None and spec.name not in existed:
            try:
                down(spec.name, no_backup=True)
                progress.info(f"  {spec.name} taken down: {failures[0][0].name} did not come up")
            except RoostError as exc:
                progress.info(f"warning: could not take '{spec.name}' down: {exc}; run `roost down {spec.name}`")
    failure = failures[0][1]
    assert failure is not None
    raise failure


def _existing(names: set[str]) -> set[str]:
    state = State()
    try:
        return {name for name in names if state.get(name) is not None}
    finally:
        state.close()
