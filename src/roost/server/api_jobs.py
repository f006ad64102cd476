"""``/api/v1/jobs``: jobs across machines, submit, a job's log (from an offset, or streamed), cancel,
outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import roost
from roost.agent.client import JobStatus
from roost.errors import RoostError
from roost.job.common import JobResult
from roost.job.managed import ManagedJob
from roost.machine.record import MachineState
from roost.server.deps import SpecBody, known, monitor_of, outputs_root, spec_of

router = APIRouter(prefix="/api/v1", tags=["jobs"])
POLL_SECONDS = 0.5


class MachineJob(BaseModel):
    """A job and the machine it runs on."""

    machine: str
    job: JobStatus


class JobLog(BaseModel):
    """A piece of a job's output: the text from ``offset`` and where the next read starts."""

    machine: str
    job: str
    offset: int
    next_offset: int
    text: str
    ended: bool


class Cancelled(BaseModel):
    """Whether a cancel ended a running job (False: it had already ended)."""

    cancelled: bool


@router.get("/jobs")
def all_jobs(request: Request) -> list[MachineJob]:
    """The jobs of every running machine, newest first."""
    running = [m.name for m in monitor_of(request).machines() if m.state == MachineState.RUNNING]

    def of(name: str) -> list[MachineJob]:
        try:
            return [MachineJob(machine=name, job=job) for job in roost.jobs(name)]
        except RoostError:
            return []  # a machine that stopped answering: the monitor reports it

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = [job for jobs in pool.map(of, running) for job in jobs]
    return sorted(found, key=lambda j: j.job.submitted_at or 0, reverse=True)


@router.get("/machines/{name}/jobs")
def jobs(request: Request, name: str) -> list[JobStatus]:
    """The machine's jobs, oldest first (``roost jobs``)."""
    known(request, name)
    return roost.jobs(name)


@router.post("/jobs")
def submit(request: Request, body: SpecBody) -> JobResult:
    """Bring the spec's machine up and queue its ``run``; returns once queued (detached)."""
    result = roost.submit(spec_of(body), name=body.name)
    monitor_of(request).probe_soon()
    return result


class DetachBody(SpecBody):
    """A spec whose job the server sees through, and whether the machine goes down at its end."""

    down: bool = False


@router.post("/managed-jobs")
def detach(request: Request, body: DetachBody) -> ManagedJob:
    """Hand the spec's job to the server (`roost run --detach`): it is started within seconds."""
    spec = spec_of(body)
    job = roost.detach(spec, name=body.name, down=body.down)
    request.app.state.poke_jobs()
    return job


@router.get("/managed-jobs")
def managed(request: Request) -> list[ManagedJob]:
    """Every job handed to the server, with its recoveries."""
    return roost.managed_jobs()


def read_log(name: str, job: str, offset: int) -> JobLog:
    """The job's output from byte ``offset`` and whether the job has ended."""
    ended = roost.jobs(name)  # one call for the state, before the read: nothing is missed at the end
    status = next((j for j in ended if j.id == job), None)
    text = roost.job_logs(name, job, offset=offset).stdout
    return JobLog(
        machine=name,
        job=job,
        offset=offset,
        next_offset=offset + len(text.encode()),
        text=text,
        ended=bool(status and status.ended),
    )


@router.get("/machines/{name}/jobs/{job}/log")
def job_log(request: Request, name: str, job: str, offset: int = 0) -> JobLog:
    """The job's output from byte ``offset``."""
    known(request, name)
    return read_log(name, job, max(offset, 0))


@router.get("/machines/{name}/jobs/{job}/log/stream")
async def job_log_stream(request: Request, name: str, job: str, offset: int = 0) -> StreamingResponse:
    """The job's output from ``offset`` as server-sent events (``data``: a JSON JobLog), live until
    it ends (then an ``end`` event) or the client goes."""
    known(request, name)
    return StreamingResponse(_events(request, name, job, max(offset, 0)), media_type="text/event-stream")


async def _events(request: Request, name: str, job: str, offset: int) -> AsyncIterator[str]:
    while not await request.is_disconnected():
        try:
            piece = await run_in_threadpool(read_log, name, job, offset)
        except RoostError as exc:
            yield f"event: error\ndata: {json.dumps(exc.message)}\n\n"
            return
        if piece.text:
            yield f"data: {piece.model_dump_json()}\n\n"
            offset = piece.next_offset
        if piece.ended:
            yield "event: end\ndata: {}\n\n"
            return
        await asyncio.sleep(POLL_SECONDS)  # the agent has no push: read again shortly


@router.post("/machines/{name}/jobs/{job}/cancel")
def cancel(request: Request, name: str, job: str) -> Cancelled:
    """Cancel the job; its whole process tree ends."""
    known(request, name)
    return Cancelled(cancelled=roost.cancel(name, job))


@router.post("/machines/{name}/jobs/{job}/outputs")
def outputs(request: Request, name: str, job: str) -> JobResult:
    """Download the job's ``outputs`` to the server (ROOST_HOME/server/outputs/MACHINE/JOB)."""
    known(request, name)
    return roost.job_outputs(name, job, outputs_root() / name)
