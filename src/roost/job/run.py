"""Training jobs: ``roost run`` uploads, sets up, runs with live logs, downloads outputs.

A job runs under the machine's agent in its own process group, so it survives the client
going away; ``roost logs NAME JOB -f`` picks its output up again from any offset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from roost.errors import HostUnreachable, RoostError, SpecError
from roost.job import multinode, recovery
from roost.job.common import JobResult, LogFollower, check_runnable, download_outputs, job_request
from roost.lifecycle import machines as lifecycle
from roost.progress import Progress, SilentProgress
from roost.session import MachineSession, load_session
from roost.spec.model import Spec


def run(
    target: str | Path | Spec,
    *,
    name: str | None = None,
    down: bool = False,
    progress: Progress | None = None,
    on_output: Callable[[str], None] | None = None,
    accept_new_host_key: bool = False,
    outputs_root: Path = Path("roost-outputs"),
) -> JobResult:
    """Bring the machine up, run the spec's ``run`` as a job, stream its log, fetch its outputs.

    Ctrl-C while streaming detaches (the job keeps running). With ``down`` the machine is
    taken down after the job ended and its outputs are safe, whether it succeeded or not.
    """
    progress = progress or SilentProgress()
    spec = lifecycle.resolve_spec(target, name)
    check_runnable(spec)
    if spec.num_nodes > 1:
        return multinode.run(
            spec,
            down=down,
            progress=progress,
            on_output=on_output,
            accept_new_host_key=accept_new_host_key,
            outputs_root=outputs_root,
        )
    session, job_id = _start(spec, down=down, progress=progress, accept_new_host_key=accept_new_host_key)
    progress.info(f"job {job_id} on {spec.name}: {spec.run}")
    try:
        session, job_id = _follow(session, job_id, progress, on_output)
    except KeyboardInterrupt:
        progress.info(
            f"detached; job {job_id} keeps running. `roost logs {spec.name} {job_id} -f` follows it"
            + ("; --down skipped while it runs" if down else "")
        )
        return JobResult(machine=spec.name, job=job_id, state="running", exit_code=None, detached=True)
    return _finish(session, job_id, down=down, progress=progress, outputs_root=outputs_root)


def submit(target: str | Path | Spec, *, name: str | None = None, progress: Progress | None = None) -> JobResult:
    """Bring the machine up (sync, setup) and queue the spec's ``run`` as a job; return at once
    (``detached``): ``roost logs``, ``jobs`` and ``cancel`` follow it from anywhere."""
    spec = lifecycle.resolve_spec(target, name)
    check_runnable(spec)
    if spec.num_nodes > 1:
        raise SpecError(
            "a multi-node job is run attached (`roost run`), not submitted", file=spec.source, field="num_nodes"
        )
    session, job_id = _start(spec, down=False, progress=progress or SilentProgress(), accept_new_host_key=False)
    return JobResult(
        machine=spec.name, job=job_id, state=session.agent.job(job_id).state, exit_code=None, detached=True
    )


def outputs(name: str, job: str, root: Path) -> JobResult:
    """Copy an ended job's ``outputs`` into ``root/JOB`` (as ``roost run`` does at its end)."""
    session = load_session(name)
    status = session.agent.job(job)
    folder, missing = download_outputs(session, job, root)
    return JobResult(
        machine=name, job=job, state=status.state, exit_code=status.exit_code, outputs=folder, missing_outputs=missing
    )


def _start(spec: Spec, *, down: bool, progress: Progress, accept_new_host_key: bool) -> tuple[MachineSession, str]:
    """Bring the machine up (sync, setup) and submit the job; with ``down``, a failure on the
    way takes the machine down again."""
    try:
        lifecycle.up(spec, progress=progress, accept_new_host_key=accept_new_host_key, reconcile=True)
        session = load_session(spec.name)
        return session, session.agent.submit_job(job_request(session))
    except RoostError:
        if down:  # --down never leaves a machine behind, not even when setup failed
            _down_quietly(spec.name, progress)
        raise


def _finish(session: MachineSession, job_id: str, *, down: bool, progress: Progress, outputs_root: Path) -> JobResult:
    """The ended job's result, its outputs downloaded; with ``down`` the machine goes after."""
    spec = session.record.spec
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


def _follow(
    session: MachineSession, job_id: str, progress: Progress, on_output: Callable[[str], None] | None
) -> tuple[MachineSession, str]:
    """Stream the job's log to its end: reconnect from the same offset after a dropped
    connection; with ``recover``, move a lost machine's job to another host."""
    spec = session.record.spec
    log = LogFollower(session, job_id, on_output)
    while True:
        try:
            if spec.recover:
                with recovery.CheckpointSync(session, spec.checkpoint_every_seconds):
                    result = log.follow()
            else:
                result = log.follow()
            if result.ok:  # the agent ends a followed log only once the job has ended
                return session, job_id
            if log.given_up:
                result.check("following the job's log")
        except HostUnreachable:
            if not spec.recover:
                raise
            session = recovery.move_to_next_host(spec.name, progress)
            job_id = session.agent.submit_job(job_request(session))
            log = LogFollower(session, job_id, on_output)
            progress.info(f"job resubmitted as {job_id} on {session.record.facts.host}")
