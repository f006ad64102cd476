"""Training jobs: ``roost run`` uploads, sets up, runs with live logs, downloads outputs.

A job runs under the machine's agent in its own process group, so it survives the client
going away; ``roost logs NAME JOB -f`` picks its output up again from any offset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from roost.lifecycle import machines as lifecycle
from roost.agent.client import JobRequest, JobStatus
from roost.errors import HostUnreachable, RoostError, SpecError
from roost.lifecycle.plan import job_path
from roost.progress import Progress, SilentProgress
from roost.transport.base import Result
from roost.session import MachineSession, load_session
from roost.spec.model import Spec


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


def _check_runnable(spec: Spec) -> None:
    if not spec.run:
        raise SpecError("'run' is required for `roost run`", file=spec.source, field="run",
                        hint="add the command to run, e.g. run: python train.py")
    if spec.workdir and not Path(spec.workdir).is_dir():
        raise SpecError(f"the workdir {spec.workdir} does not exist", file=spec.source, field="workdir",
                        hint="create it or fix the path (relative to the spec file)")


def job_request(session: MachineSession, extra_env: dict[str, str] | None = None) -> JobRequest:
    spec, home = session.record.spec, session.record.facts.home
    accelerators = spec.resources.accelerators
    return JobRequest(
        command=spec.run or "", cwd=f"{home}/workdir", cpus=spec.resources.cpus or 1,
        gpus=accelerators.count if accelerators else 0,
        env={**spec.envs, **job_path(session), "ROOST_MACHINE": spec.name,
             "ROOST_CHECKPOINT_DIR": f"{home}/checkpoints", **(extra_env or {})},
        secrets={name: os.environ[name] for name in spec.secrets})


def run(target: str | Path | Spec, *, name: str | None = None, down: bool = False,
        progress: Progress | None = None, on_output: Callable[[str], None] | None = None,
        accept_new_host_key: bool = False, outputs_root: Path = Path("roost-outputs")) -> JobResult:
    """Bring the machine up, run the spec's ``run`` as a job, stream its log, fetch its outputs.

    Ctrl-C while streaming detaches (the job keeps running). With ``down`` the machine is
    taken down after the job ended and its outputs are safe, whether it succeeded or not.
    """
    progress = progress or SilentProgress()
    spec = lifecycle.resolve_spec(target, name)
    _check_runnable(spec)
    if spec.num_nodes > 1:
        from roost.jobs import multinode

        return multinode.run(spec, down=down, progress=progress, on_output=on_output,
                             accept_new_host_key=accept_new_host_key, outputs_root=outputs_root)
    try:
        lifecycle.up(spec, progress=progress, accept_new_host_key=accept_new_host_key, reconcile=True)
        session = load_session(spec.name)
        job_id = session.agent.submit_job(job_request(session))
    except RoostError:
        if down:  # --down never leaves a machine behind, not even when setup failed
            _down_quietly(spec.name, progress)
        raise
    progress.info(f"job {job_id} on {spec.name}: {spec.run}")
    try:
        session, job_id = _follow(session, job_id, progress, on_output)
    except KeyboardInterrupt:
        progress.info(f"detached; job {job_id} keeps running. `roost logs {spec.name} {job_id} -f` follows it"
                      + ("; --down skipped while it runs" if down else ""))
        return JobResult(machine=spec.name, job=job_id, state="running", exit_code=None, detached=True)
    status = session.agent.job(job_id)
    result = JobResult(machine=spec.name, job=job_id, state=status.state, exit_code=status.exit_code)
    try:
        if spec.outputs:
            result.outputs, result.missing_outputs = download_outputs(session, job_id, outputs_root)
            for missing in result.missing_outputs:
                progress.info(f"warning: output '{missing}' was not found on the machine")
    finally:
        if down:
            lifecycle.down(spec.name)
            result.machine_down = True
    return result


def _down_quietly(name: str, progress: Progress) -> None:
    try:
        lifecycle.down(name)
        progress.info(f"machine '{name}' taken down (--down)")
    except RoostError as exc:
        progress.info(f"warning: could not take '{name}' down: {exc}; run `roost down {name}`")


def _follow(session: MachineSession, job_id: str, progress: Progress,
            on_output: Callable[[str], None] | None) -> tuple[MachineSession, str]:
    """Stream the job's log to its end: reconnect from the same offset after a dropped
    connection; with ``recover``, move a lost machine's job to another host."""
    from roost.jobs import recovery

    spec = session.record.spec
    offset = 0

    def counted(line: str) -> None:
        nonlocal offset
        offset += len(line.encode())
        if on_output is not None:
            on_output(line)

    while True:
        try:
            if spec.recover:
                with recovery.CheckpointSync(session, spec.checkpoint_every_seconds):
                    session.agent.job_logs(job_id, offset=offset, follow=True, on_output=counted)
            else:
                session.agent.job_logs(job_id, offset=offset, follow=True, on_output=counted)
            if session.agent.job(job_id).ended:
                return session, job_id
        except HostUnreachable:
            if not spec.recover:
                raise
            session = recovery.move_to_next_host(spec.name, progress)
            job_id, offset = session.agent.submit_job(job_request(session)), 0
            progress.info(f"job resubmitted as {job_id} on {session.record.facts.host}")


def download_outputs(session: MachineSession, job_id: str, root: Path) -> tuple[Path, list[str]]:
    from roost.transfer import download

    destination = root / job_id
    missing = []
    for output in session.record.spec.outputs:
        try:
            download(session, output, destination)
        except RoostError:
            missing.append(output)
    return destination, missing


def jobs(name: str) -> list[JobStatus]:
    """Every job of the machine, oldest first."""
    return load_session(name).agent.jobs()


def job_logs(name: str, job: str, *, follow: bool = False, offset: int = 0,
             on_output: Callable[[str], None] | None = None) -> Result:
    """A job's output from byte ``offset``; ``follow`` streams until it ends."""
    session = load_session(name)
    session.agent.job(job)  # a clear error for an unknown job
    return session.agent.job_logs(job, offset=offset, follow=follow, on_output=on_output)


def cancel(name: str, job: str) -> bool:
    """Cancel a job; its whole process tree ends. False when it had already ended."""
    return load_session(name).agent.cancel(job)
