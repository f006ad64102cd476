"""The job verbs besides ``run``: list, read the log of and cancel a machine's jobs."""

from __future__ import annotations

from collections.abc import Callable

from roost.agent.client import JobStatus
from roost.session import load_session
from roost.transport.base import Result


def jobs(name: str) -> list[JobStatus]:
    """Every job of the machine, oldest first."""
    return load_session(name).agent.jobs()


def job_logs(
    name: str, job: str, *, follow: bool = False, offset: int = 0, on_output: Callable[[str], None] | None = None
) -> Result:
    """A job's output from byte ``offset``; ``follow`` streams until it ends."""
    session = load_session(name)
    session.agent.job(job)  # a clear error for an unknown job
    return session.agent.job_logs(job, offset=offset, follow=follow, on_output=on_output)


def cancel(name: str, job: str) -> bool:
    """Cancel a job; its whole process tree ends. False when it had already ended."""
    return load_session(name).agent.cancel(job)
