"""Small, idempotent steps composed into a sequence, each recorded in the state DB.

A step done before with the same inputs (its fingerprint) is skipped, so an interrupted
``up`` resumes where it stopped instead of doing everything again. Steps marked ``always``
are cheap checks that run every time (start the agent, wait for health).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from roost.progress import Progress
from roost.state import State


def fingerprint(*parts: object) -> str:
    """A short digest of a step's inputs."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Step:
    """One thing to do on a machine. ``action`` must be safe to run again."""

    name: str
    title: str
    action: Callable[[], None]
    inputs: str = ""
    always: bool = False


def run_steps(state: State, machine: str, steps: Sequence[Step], progress: Progress) -> None:
    """Run each step not already done with the same inputs, recording start and end."""
    for step in steps:
        if not step.always and state.step_done(machine, step.name, step.inputs):
            progress.skipped(step.title)
            continue
        state.record_step(machine, step.name, step.inputs, "started")
        try:
            with progress.step(step.title):
                step.action()
        except BaseException:
            state.record_step(machine, step.name, step.inputs, "failed")
            raise
        state.record_step(machine, step.name, step.inputs, "done")
