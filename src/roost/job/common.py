"""What a single-machine and a multi-node job share: the result, the request, the outputs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from roost.agent.client import JobRequest
from roost.errors import RoostError, SpecError
from roost.paths import inside
from roost.session import MachineSession
from roost.spec.model import Spec
from roost.transfer import download
from roost.transport.base import Result

LOG_TRIES = 3
"""How often in a row a job's log stream may end short of the job's end (a dropped connection,
a killed reader) before roost stops following it; each new one picks up at the byte reached."""


class LogFollower:
    """One job's log, streamed to ``on_output`` from the byte the last stream reached."""

    def __init__(self, session: MachineSession, job_id: str, on_output: Callable[[str], None] | None) -> None:
        self.session, self.job_id, self.on_output = session, job_id, on_output
        self.offset = 0
        self.cut_short = 0
        """Streams in a row that ended before the job's end without passing on a byte."""

    def _count(self, line: str) -> None:
        self.offset += len(line.encode())
        if self.on_output is not None:
            self.on_output(line)

    def follow(self) -> Result:
        """One stream until the job's end (ok), or until it is cut short or fails (then counted
        in ``cut_short``, and a RoostError raised on)."""
        reached = self.offset
        try:
            result = self.session.agent.job_logs(self.job_id, offset=self.offset, follow=True, on_output=self._count)
        except RoostError:
            self._stopped_short(progressed=self.offset > reached)
            raise
        if not result.ok:
            self._stopped_short(progressed=self.offset > reached)
        return result

    def _stopped_short(self, *, progressed: bool) -> None:
        self.cut_short = 1 if progressed else self.cut_short + 1

    @property
    def given_up(self) -> bool:
        """LOG_TRIES streams in a row ended short without progress."""
        return self.cut_short >= LOG_TRIES


class JobResult(BaseModel):
    """How a ``roost run`` ended: the job's state and exit code, and where its outputs went."""

    machine: str
    job: str
    state: str
    exit_code: int | None
    detached: bool = False
    outputs: Path | None = None
    missing_outputs: list[str] = Field(default_factory=list)
    machine_down: bool = False


def check_runnable(spec: Spec) -> None:
    """Refuse a spec without ``run`` or with a workdir that does not exist."""
    if not spec.run:
        raise SpecError(
            "'run' is required for `roost run`",
            file=spec.source,
            field="run",
            hint="add the command to run, e.g. run: python train.py",
        )
    if spec.workdir and not Path(spec.workdir).is_dir():
        raise SpecError(
            f"the workdir {spec.workdir} does not exist",
            file=spec.source,
            field="workdir",
            hint="create it or fix the path (relative to the spec file)",
        )


def job_request(session: MachineSession, extra_env: dict[str, str] | None = None) -> JobRequest:
    """The agent's request for the spec's ``run`` on this machine (``extra_env`` added)."""
    spec, home = session.record.spec, session.record.facts.home
    accelerators = spec.resources.accelerators
    return JobRequest(
        command=spec.run or "",
        cwd=f"{home}/workdir",
        cpus=spec.resources.cpus or 1,
        gpus=accelerators.count if accelerators else 0,
        env={
            **spec.envs,
            **session.job_path(),
            "ROOST_MACHINE": spec.name,
            "ROOST_CHECKPOINT_DIR": f"{home}/checkpoints",
            **(session.driver.job_env(home, session.record.facts.app.port) if session.driver and home else {}),
            **(extra_env or {}),
        },
        secrets={name: os.environ[name] for name in spec.secrets},
    )


def download_outputs(session: MachineSession, job_id: str, root: Path) -> tuple[Path, list[str]]:
    """Copy the spec's ``outputs`` into ``root/JOB``; the folder and the outputs not found."""
    destination = inside(root, job_id, "job id", f"machine {session.record.name}")
    missing = []
    for output in session.record.spec.outputs:
        try:
            download(session, output, destination)
        except RoostError:
            missing.append(output)
    return destination, missing
