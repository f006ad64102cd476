"""``roost run | jobs | cancel``: each a few lines over :mod:`roost.roost.run`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from roost.cli.commands import CommandList
from roost.cli.render import PROGRESS, console, print_table
from roost.cli.verbs import server_verbs, verbs
from roost.errors import RoostError

if TYPE_CHECKING:
    from roost.job.managed import ManagedJob

commands = CommandList()


@commands.command()
def run(
    spec: str = typer.Argument(..., help="a spec file with 'run:'"),
    down: bool = typer.Option(False, "--down", help="take the machine down after the job (and its outputs)"),
    name: str = typer.Option(None, "--name", "-n"),
    accept_new_host_key: bool = typer.Option(False, "--accept-new-host-key"),
    detach: bool = typer.Option(
        False, "--detach", help="hand the job to the roost server, which sees it through (recovery, outputs, --down)"
    ),
) -> None:
    """Sync, set up, run the spec's job with live logs, download its outputs; exits with its code."""
    if detach:
        handed = server_verbs().detach(spec, name=name, down=down)
        console.print(
            f"job on '{handed.name}' handed to the server: it brings the machine up and sees the job through"
            + (", then takes the machine down" if down else "")
            + f". `roost jobs {handed.name}` follows it"
        )
        return
    result = verbs().run(
        spec,
        name=name,
        down=down,
        progress=PROGRESS,
        accept_new_host_key=accept_new_host_key,
        on_output=lambda line: print(line, end="", flush=True),
    )
    if result.detached:
        raise typer.Exit(0)
    console.print(
        f"job {result.job} {result.state} (exit code {result.exit_code})"
        + (f"; outputs in {result.outputs}/" if result.outputs else "")
        + ("; machine taken down" if result.machine_down else "")
    )
    code = 1 if result.exit_code is None else result.exit_code
    raise typer.Exit(128 - code if code < 0 else code)  # killed by signal N: 128+N, as a shell says


@commands.command("jobs")
def jobs_(name: str) -> None:
    """List the machine's jobs, oldest first."""
    managed = verbs().managed_jobs(name)
    try:
        found = verbs().jobs(name)
    except RoostError:
        if not managed:
            raise
        found = []  # a managed job whose machine went down at its end
    rows = [
        [job.id, job.state, "-" if job.exit_code is None else str(job.exit_code), job.command or ""] for job in found
    ]
    if rows:
        print_table(["JOB", "STATE", "EXIT", "COMMAND"], rows)
    for job in managed:
        _print_managed(job)


def _print_managed(job: ManagedJob) -> None:
    """A managed job's line, and one per recovery: when, from and to which host, which checkpoint."""
    console.print(
        f"managed by the server: {job.state}"
        + (f", job {job.job} on {job.host}" if job.job else "")
        + (f"; outputs in {job.outputs}/" if job.outputs else "")
        + (f" and {job.stored_outputs}" if job.stored_outputs else "")
        + ("; machine taken down" if job.machine_down else "")
    )
    for moved in job.recoveries:
        checkpoint = f"checkpoint of {_clock(moved.checkpoint_at)}" if moved.checkpoint_at else "no checkpoint yet"
        lost = f"{moved.lost_host} lost"
        console.print(f"  recovered {_clock(moved.at)}: {lost}, job {moved.job} on {moved.host} from its {checkpoint}")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


@commands.command()
def cancel(name: str, job: str) -> None:
    """Cancel a job: its whole process tree ends."""
    ended = verbs().cancel(name, job)
    console.print(f"job {job} cancelled" if ended else f"job {job} had already ended")


def register(app: typer.Typer) -> None:
    """Add the job commands to ``app``."""
    commands.register(app)
