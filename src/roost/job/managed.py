"""Managed jobs: `roost run SPEC --detach` hands the job to the server, which sees it through.

The job's record (``managed_jobs`` in the state database) is the whole truth: a server killed
at any point and started again picks every unfinished job up where the record says. A driver
brings the machine up and submits the job (adopting one already running there, so a restart
never doubles it), copies ``$ROOST_CHECKPOINT_DIR`` into the store every ``checkpoint_every``,
and, when the machine is lost, moves it to the next host of a ``recover: true`` spec with the
last checkpoint and submits again (a recovery, recorded with its time and checkpoint). At the
end the outputs are downloaded into the store, the outcome is an event (which the notifier
sends), and ``--down`` takes the machine down.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field

from roost.backups.store import BackupStore
from roost.backups.stores import store_for
from roost.errors import BackendError, HostUnreachable, MachineNotFound, RoostError, SpecError
from roost.job import recovery
from roost.job.common import check_runnable, download_outputs, job_request
from roost.lifecycle import machines as lifecycle
from roost.machine import journal
from roost.machine.record import MachineState
from roost.machine.state import State
from roost.paths import roost_home
from roost.progress import SilentProgress
from roost.session import MachineSession, load_session
from roost.spec.model import BackendKind, Spec

log = logging.getLogger("roost.job.managed")
ENDED = ("succeeded", "failed", "cancelled")
RECLAIM_GRACE_SECONDS = 180.0
"""EC2 reclaims a spot instance two minutes after its notice; a job still there a minute later runs again."""


class Recovery(BaseModel):
    """One move of a managed job to another host."""

    at: float
    lost_host: str | None
    host: str | None
    job: str
    checkpoint_at: float | None
    """When the checkpoint it resumed from was copied off the lost machine (None: none yet)."""


class ManagedJob(BaseModel):
    """A job the server sees through; its record in the state database."""

    name: str
    spec: Spec
    down: bool = False
    state: str = "pending"
    """pending (not submitted yet), running, or how it ended: succeeded, failed, cancelled."""
    job: str | None = None
    host: str | None = None
    exit_code: int | None = None
    outputs: str | None = None
    """Where the outputs were downloaded (on the server's computer)."""
    stored_outputs: str | None = None
    """Their copy in the spec's ``backup_to`` (when it has one)."""
    message: str | None = None
    recoveries: list[Recovery] = Field(default_factory=list)
    checkpoint_at: float | None = None
    """When the newest checkpoint in the store was copied off the machine."""
    interrupted_at: float | None = None
    """When the server saw EC2's interruption notice for the spot machine the job is on."""
    final_checkpoint: bool = False
    """The checkpoint the job saved on that notice has been copied off."""
    created_at: float = Field(default_factory=time.time)
    ended_at: float | None = None

    machine_down: bool = False
    """``down`` was asked and the machine is gone."""

    @property
    def ended(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.state in ENDED

    @property
    def settled(self) -> bool:
        """Nothing is left to do: the job ended and, with ``down``, its machine is gone."""
        return self.ended and (self.machine_down or not self.down)


def store_dir(name: str) -> Path:
    """Where a managed job's outputs land on the server's computer (its checkpoints: recovery's mirror)."""
    path = roost_home() / "managed" / name
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def save(state: State, job: ManagedJob) -> None:
    """Write the job's record whole (one transaction)."""
    with state.transaction() as db:
        db.execute(
            "INSERT INTO managed_jobs (name, record_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
            "DO UPDATE SET record_json = excluded.record_json, updated_at = excluded.updated_at",
            (job.name, job.model_dump_json(by_alias=True), time.time()),
        )


def managed_jobs(name: str | None = None) -> list[ManagedJob]:
    """Every managed job (or the machine's), oldest first."""
    state = State()
    try:
        rows = state.query("SELECT record_json FROM managed_jobs ORDER BY updated_at")
    finally:
        state.close()
    found = [ManagedJob.model_validate_json(row[0]) for row in rows]
    return [job for job in found if name is None or job.name == name]


def hand_over(spec: Spec, *, down: bool = False) -> ManagedJob:
    """Record the spec's job for the watchers to run (they start it within seconds)."""
    check_runnable(spec)
    if spec.num_nodes > 1:
        raise SpecError("a multi-node job is run attached (`roost run`)", file=spec.source, field="num_nodes")
    current = managed_jobs(spec.name)
    if current and not current[0].settled:
        raise RoostError(
            f"a managed job already runs on '{spec.name}' ({current[0].state})",
            hint=f"wait for it, or `roost cancel {spec.name} {current[0].job}`",
        )
    shutil.rmtree(recovery.mirror_dir(spec.name), ignore_errors=True)  # an older job's checkpoint is not this one's
    job = ManagedJob(name=spec.name, spec=spec, down=down)
    state = State()
    try:
        save(state, job)
    finally:
        state.close()
    return job


def detach(target: str | Path | Spec, *, name: str | None = None, down: bool = False) -> ManagedJob:
    """Hand the spec's job to the watchers (`roost server` or `roost watch` on this ROOST_HOME),
    which bring the machine up, run the job, recover it and take the machine down (``down``)."""
    return hand_over(lifecycle.resolve_spec(target, name), down=down)


def where(session: MachineSession) -> str | None:
    """Which machine the job is on: its SSH host, or its cloud instance."""
    facts = session.record.facts
    return facts.cloud.instance_id if facts.cloud else facts.host


class Driver:
    """Sees one managed job through, one step at a time, until it ends or ``stopping`` is set."""

    def __init__(self, name: str, stopping: threading.Event, *, poll: float = 1.0) -> None:
        self.name = name
        self.stopping = stopping
        self.poll = poll
        self.state = State()
        self._store: BackupStore | None = None

    def load(self) -> ManagedJob:
        rows = self.state.query("SELECT record_json FROM managed_jobs WHERE name = ?", (self.name,))
        return ManagedJob.model_validate_json(rows[0][0])

    def run(self) -> None:
        """Drive the job to its end (errors other than a lost machine are retried with backoff)."""
        failures = 0
        while not self.stopping.is_set():
            job = self.load()
            if job.settled:
                return
            try:
                if job.ended:
                    self.take_down(job)
                else:
                    self.step(job)
                failures = 0
            except RoostError as exc:
                failures += 1
                log.warning("managed job on %s: %s", self.name, exc.message)
            except Exception:  # a bug: logged with its traceback, retried with backoff like the rest
                failures += 1
                log.exception("managed job on %s", self.name)
            poll = min(self.poll, job.spec.checkpoint_every_seconds) if job.spec.recover else self.poll
            self.stopping.wait(min(60.0, poll * 2**failures))

    def step(self, job: ManagedJob) -> None:
        """Submit a pending job; follow a running one (checkpoints, the end, a lost machine)."""
        if job.state == "pending":
            self.submit(job)
            return
        try:
            session = load_session(self.name)
        except MachineNotFound:  # taken down by hand while its job ran: nothing left to follow
            job.state, job.ended_at, job.message = "cancelled", time.time(), "its machine was taken down"
            save(self.state, job)
            return
        try:
            if job.host != where(session):  # a move that a restart cut short
                self.finish_move(job)
                return
            status = session.agent.job(job.job or "")
        except BackendError as exc:
            if not job.spec.recover or not self.lost(exc):
                raise
            self.recover(job)
            return
        if self.interrupted(job, session) and status.ended and status.state != "succeeded":
            self.await_reclaim(job, session)
        elif status.ended:
            self.finish(job, session, status.state, status.exit_code)
        elif job.spec.recover and time.time() - (job.checkpoint_at or 0) >= job.spec.checkpoint_every_seconds:
            self.pull_checkpoint(job, session)

    def interrupted(self, job: ManagedJob, session: MachineSession) -> bool:
        """True once EC2's interruption notice reached the spot machine's agent; the first time,
        a checkpoint is copied off at once (the agent has signalled the job to save one)."""
        cloud = session.record.facts.cloud
        if job.interrupted_at is None and cloud is not None and cloud.spot:
            if session.agent.status().interruption is None:
                return False
            job.interrupted_at = time.time()
            save(self.state, job)
            self.pull_checkpoint(job, session)
        return job.interrupted_at is not None

    def await_reclaim(self, job: ManagedJob, session: MachineSession) -> None:
        """The job ended on the interruption's signal: copy its last checkpoint off once, then
        wait for EC2 to take the instance (a recovery follows); if it is still there well after
        the two minutes, the job starts again where it is."""
        if not job.final_checkpoint:
            self.pull_checkpoint(job, session)
            job.final_checkpoint = True
            save(self.state, job)
        elif time.time() - (job.interrupted_at or 0) > RECLAIM_GRACE_SECONDS:
            self.moved(job, session, session.agent.submit_job(job_request(session)))

    def submit(self, job: ManagedJob) -> None:
        lifecycle.up(job.spec, reconcile=True)
        session = load_session(self.name)
        running = [j for j in session.agent.jobs() if not j.ended and j.command == job.spec.run]
        # a job already running there was submitted by this driver before a restart: adopt it
        job.job = running[-1].id if running else session.agent.submit_job(job_request(session))
        job.state, job.host = "running", where(session)
        save(self.state, job)

    def store(self, job: ManagedJob) -> BackupStore | None:
        """The spec's ``backup_to``, where checkpoints are kept beside this computer's copy."""
        if job.spec.backup_to and self._store is None:
            self._store = store_for(job.spec.backup_to, f"{self.name}.checkpoint")
        return self._store

    def pull_checkpoint(self, job: ManagedJob, session: MachineSession) -> None:
        """Copy the checkpoint off the machine, and into the store (``backup_to``) when set."""
        try:
            recovery.CheckpointSync(session, 0).pull()
            store = self.store(job)
            if store is not None:
                store.put_tree(recovery.mirror_dir(self.name))
            job.checkpoint_at = time.time()
            save(self.state, job)  # kept: a restarted server says which checkpoint a recovery used
        except RoostError as exc:
            log.info("checkpoint of %s not copied: %s", self.name, exc.message)

    def lost(self, exc: BackendError) -> bool:
        """True when the machine is gone: its host does not answer (SSH), its instance was
        terminated (a reclaimed spot instance on AWS)."""
        session = load_session(self.name)
        if session.record.backend == "aws":
            return session.backend.status(session.record) == MachineState.TERMINATED
        return isinstance(exc, HostUnreachable)

    def recover(self, job: ManagedJob) -> None:
        """Put the job on a new machine with its last checkpoint: the next host (SSH), a new
        instance (AWS; on-demand once the spec's spot fallback says so)."""
        mirror, store = recovery.mirror_dir(self.name), self.store(job)
        if store is not None and not any(mirror.iterdir()):  # this computer lost its copy: the store's
            store.get_tree(mirror)
        if job.spec.backend is not BackendKind.aws:
            session = recovery.move_to_next_host(self.name, SilentProgress())  # up there, checkpoint put back
            self.moved(job, session, session.agent.submit_job(job_request(session)))
            return
        resources = job.spec.resources
        after = resources.spot_fallback_after
        if resources.spot and after and len(job.recoveries) + 1 >= after:
            job.spec = job.spec.model_copy(update={"resources": resources.model_copy(update={"spot": False})})
            save(self.state, job)
        self.state.forget_steps(self.name)  # a new instance: every step again
        self.finish_move(job)

    def finish_move(self, job: ManagedJob) -> None:
        """Complete a move a restart cut short: the machine up on its new host, and the job
        there once (adopted if it was submitted, else submitted on the last checkpoint)."""
        lifecycle.up(job.spec, reconcile=True)
        session = load_session(self.name)
        running = [j for j in session.agent.jobs() if not j.ended and j.command == job.spec.run]
        if running:
            self.moved(job, session, running[-1].id)
            return
        recovery.push_checkpoint(session)
        self.moved(job, session, session.agent.submit_job(job_request(session)))

    def moved(self, job: ManagedJob, session: MachineSession, job_id: str) -> None:
        """Record that the job runs as ``job_id`` on the machine's new host."""
        lost = job.host
        job.job = job_id
        job.host = where(session)
        job.interrupted_at, job.final_checkpoint = None, False
        job.recoveries.append(
            Recovery(at=time.time(), lost_host=lost, host=job.host, job=job.job, checkpoint_at=job.checkpoint_at)
        )
        save(self.state, job)
        journal.record_event(
            self.state, self.name, "job recovered", f"job moved from {lost} to {job.host}, resumed as job {job.job}"
        )

    def finish(self, job: ManagedJob, session: MachineSession, outcome: str, exit_code: int | None) -> None:
        """Outputs into the store, the outcome recorded (an event), then ``--down``."""
        if job.spec.outputs:
            folder, _missing = download_outputs(session, job.job or "", store_dir(self.name) / "outputs")
            job.outputs = str(folder)
            if job.spec.backup_to:  # and beside the checkpoints: backup_to/NAME.outputs/JOB/
                outputs = store_for(job.spec.backup_to, f"{self.name}.outputs")
                outputs.put_tree(folder.parent)
                job.stored_outputs = f"{outputs.location.rstrip('/')}/{folder.name}/"
        job.state, job.exit_code, job.ended_at = outcome, exit_code, time.time()
        save(self.state, job)
        journal.record_event(
            self.state, self.name, f"job {outcome}", f"job {job.job} {outcome} (exit code {exit_code})"
        )
        self.take_down(job)

    def take_down(self, job: ManagedJob) -> None:
        """``--down`` after the end: retried (by ``run``) until the machine is gone."""
        if job.down and not job.machine_down:
            try:
                lifecycle.down(self.name)
            except MachineNotFound:
                pass  # already gone
            job.machine_down = True
            save(self.state, job)
