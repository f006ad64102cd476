"""Small, idempotent steps composed into a sequence, each recorded in the state DB.

A step done before with the same inputs (its fingerprint) is skipped, so an interrupted
``up`` resumes where it stopped instead of doing everything again. Steps marked ``always``
are cheap checks that run every time (start the agent, wait for health).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from roost.errors import HostError, HostUnreachable
from roost.machine.state import State
from roost.progress import Progress


def fingerprint(*parts: object) -> str:
    """A short digest of a step's inputs."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


CRASH_AFTER_STEP = "ROOST_CRASH_AFTER_STEP"
"""Fault injection: roost exits hard right after the step of this name is recorded done."""
CRASH_EXIT_CODE = 97


@dataclass(frozen=True)
class Step:
    """One thing to do on a machine. ``action`` must be safe to run again."""

    name: str
    title: str
    action: Callable[[], object]
    """What the step does; what it returns is not used."""
    inputs: str = ""
    always: bool = False


@dataclass(frozen=True)
class Parallel:
    """Lanes of steps that do not depend on each other: the lanes run at the same time,
    the steps within a lane in order. The plan goes on once every lane has finished."""

    lanes: tuple[tuple[Step, ...], ...]


Reconnect = Callable[[HostUnreachable], bool]
"""Given the failure, opens a new connection to the machine after one dropped; True when it
was the machine's own connection and the machine answers a new one."""


def _run_one(state: State, machine: str, step: Step, progress: Progress, reconnect: Reconnect | None = None) -> None:
    if not step.always and state.step_done(machine, step.name, step.inputs):
        progress.skipped(step.title)
        return
    state.record_step(machine, step.name, step.inputs, "started")
    try:
        try:
            with progress.step(step.title):
                step.action()
        except HostUnreachable as lost:
            # a connection that dropped under a step while the machine still answers: steps are
            # safe to run again, so the step runs once more on a new connection
            if reconnect is None or not reconnect(lost):
                raise
            progress.info(
                f"the connection dropped during '{step.title}' ({lost.detail}); reconnected, running the step again"
            )
            with progress.step(step.title):
                step.action()
    except BaseException as exc:
        state.record_step(machine, step.name, step.inputs, "failed")
        if isinstance(exc, HostError) and exc.step is None:
            exc.step = step.name  # say which step the host failed in
        raise
    state.record_step(machine, step.name, step.inputs, "done")
    if os.environ.get(CRASH_AFTER_STEP) == step.name:
        os._exit(CRASH_EXIT_CODE)  # a hard crash, as a kill -9 would leave things


def run_steps(
    state: State, machine: str, plan: Sequence[Step | Parallel], progress: Progress, reconnect: Reconnect | None = None
) -> None:
    """Run each step not already done with the same inputs, recording start and end.

    A failing lane of a Parallel lets the other lanes finish their current step, then
    raises the first failure; what finished is recorded and is not done again. With
    ``reconnect``, a step whose connection dropped runs once more if the machine answers a new one.
    """
    for item in plan:
        if isinstance(item, Step):
            _run_one(state, machine, item, progress, reconnect)
            continue
        with ThreadPoolExecutor(max_workers=len(item.lanes)) as pool:
            lanes = [pool.submit(_run_lane, state, machine, lane, progress, reconnect) for lane in item.lanes]
        for lane in lanes:
            lane.result()  # re-raises the lane's failure


def _run_lane(
    state: State, machine: str, lane: Sequence[Step], progress: Progress, reconnect: Reconnect | None
) -> None:
    for step in lane:
        _run_one(state, machine, step, progress, reconnect)
