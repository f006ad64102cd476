"""What a single-machine and a multi-node job share: the result, the request, the outputs."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from roost.agent.client import JobRequest
from roost.errors import RoostError, SpecError
from roost.paths import inside
from roost.session import MachineSession
from roost.spec.model import Spec
from roost.transfer import download

LOG_TRIES = 3
"""How often in a row a job's log stream may end short of the job's end (a dropped connection,
a killed reader) before roost stops following it; each new one picks up at the byte reached."""


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
