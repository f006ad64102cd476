"""``roost run | jobs | cancel``: each a few lines over :mod:`roost.roost.run`."""

from __future__ import annotations

import typer

from roost.cli.commands import CommandList
from roost.cli.render import PROGRESS, console, print_table
from roost.cli.verbs import verbs

commands = CommandList()


@commands.command()
def run(
    spec: str = typer.Argument(..., help="a spec file with 'run:'"),
    down: bool = typer.Option(False, "--down", help="take the machine down after the job (and its outputs)"),
    name: str = typer.Option(None, "--name", "-n"),
    accept_new_host_key: bool = typer.Option(False, "--accept-new-host-key"),
) -> None:
    """Sync, set up, run the spec's job with live logs, download its outputs; exits with its code."""
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
    rows = [
        [job.id, job.state, "-" if job.exit_code is None else str(job.exit_code), job.command or ""]
        for job in verbs().jobs(name)
    ]
    print_table(["JOB", "STATE", "EXIT", "COMMAND"], rows)


@commands.command()
def cancel(name: str, job: str) -> None:
    """Cancel a job: its whole process tree ends."""
    ended = verbs().cancel(name, job)
    console.print(f"job {job} cancelled" if ended else f"job {job} had already ended")


def register(app: typer.Typer) -> None:
    """Add the job commands to ``app``."""
    commands.register(app)
