"""The plan of ``up`` after provisioning: which steps, in which lanes, in which order."""

from __future__ import annotations

import os
from collections.abc import Callable

from roost.apps import AppContext
from roost.apps.uvenv import ensure_venv
from roost.backups.machine import schedule_step
from roost.errors import BackendError
from roost.gateway import site as gateway
from roost.lifecycle.guards import agent_config, notifier_steps
from roost.machine.steps import Parallel, Step, fingerprint
from roost.progress import Progress
from roost.service.steps import steps as service_steps
from roost.session import MachineSession
from roost.spec.model import Spec
from roost.transfer import push_files
from roost.transport.script import run_script


def _provision(session: MachineSession) -> None:
    session.record.facts = session.backend.provision(session.record)
    session.save()
    session.backend.wait_ready(session.record)


def provision_steps(session: MachineSession) -> list[Step]:
    """Create (or find) the machine: the backend's own steps (a cloud's resources), then
    the provision step, redone only when its resources or hosts change."""
    spec = session.record.spec
    return [
        *session.backend.provision_steps(session.record, session.save),
        Step(
            "provision",
            f"provision {spec.backend.value} machine",
            lambda: _provision(session),
            inputs=fingerprint(spec.resources.model_dump(), [h.model_dump() for h in spec.hosts]),
        ),
    ]


def _allocate_port(session: MachineSession) -> None:
    spec_port = session.record.spec.app.port if session.record.spec.app else None
    if spec_port or not session.record.facts.app.port:
        session.record.facts.app.port = spec_port or session.agent.free_port()
        session.save()


def _prepare_installers(ctx: AppContext, progress: Progress) -> None:
    if ctx.tools.note:
        progress.info(f"  {ctx.tools.note}")


def _start_title(spec: Spec) -> str:
    budget = spec.machine_budget
    guards = [*(["autostop"] if spec.autostop else []), *([f"budget (${budget.max_usd:g})"] if budget else [])]
    return "start agent" + (f" with its {' and '.join(guards)}" if guards else "")


def _agent_lane(session: MachineSession, ctx: AppContext) -> tuple[Step, ...]:
    """Install and start the agent, its notifier, give it the autostop and budget, choose the app's port."""
    spec = session.record.spec
    lane: tuple[Step, ...] = (
        Step("agent-install", "install agent", session.agent.install, always=True),
        *notifier_steps(session, ctx),  # before the budget: its first warning may come at once
        Step("agent-start", _start_title(spec), lambda: session.agent.start(config=agent_config(session)), always=True),
    )
    if session.driver:
        lane += (
            Step(
                "app-port",
                "choose app port",
                lambda: _allocate_port(session),
                inputs=fingerprint(spec.app.port if spec.app else None),
            ),
        )
    return lane


def _app_lane(session: MachineSession, ctx: AppContext, progress: Progress) -> tuple[Step, ...]:
    """Prepare the installers, install the app, and the job's packages into their venv."""
    spec, driver = session.record.spec, session.driver
    prepare = Step("installers", "prepare installers (uv)", lambda: _prepare_installers(ctx, progress), always=True)
    lane = (prepare, *driver.steps(ctx)) if driver else ()
    if spec.packages:
        lane = (
            *(lane or (prepare,)),
            Step(
                "job-env",
                f"install job packages ({', '.join(spec.packages)})",
                lambda: ensure_venv(ctx.runner, ctx.tools, session.job_venv(), spec.packages),
                inputs=fingerprint(spec.packages),
            ),
        )
    return lane


def _app_start_steps(session: MachineSession, ctx: AppContext) -> list[Step]:
    """Start the app under the agent and wait until it answers its health check (one call)."""
    driver = session.driver
    assert driver is not None
    return [
        Step(
            "app-start",
            f"start {driver.name} and wait until it answers",
            lambda: ctx.agent.start_app(
                driver.definition(ctx), driver.health_timeout, log_hint=f"see `roost logs {session.record.name}`"
            ),
            always=True,
        )
    ]


def plan(
    session: MachineSession, progress: Progress, *, up_workers: Callable[[list[Spec]], object]
) -> list[Step | Parallel]:
    """After provisioning: the agent lane and the app-install lane at once (and the workdir
    sync), then GPUs, setup, and the app: started and healthy, or a service's replicas.
    ``up_workers`` brings a service's worker machines up (from ``up``)."""
    spec, driver = session.record.spec, session.driver
    ctx = session.context()
    config_lane = tuple(driver.config_steps(ctx)) if driver else ()
    lanes = [lane for lane in (_agent_lane(session, ctx), _app_lane(session, ctx, progress), config_lane) if lane]
    if spec.workdir or spec.file_mounts:
        lanes.append((Step("sync", "sync workdir and file mounts", lambda: push_files(session), always=True),))
    plan: list[Step | Parallel] = [Parallel(tuple(lanes))]
    if spec.share and spec.domain:
        plan.insert(0, gateway.domain_step(session))
    if spec.resources.accelerators:
        plan.append(Step("gpus", "check GPUs", lambda: _check_gpus(session), always=True))
    if spec.setup:
        plan.append(Step("setup", "run setup", lambda: _run_setup(session, progress), inputs=fingerprint(spec.setup)))
    if driver is None:
        return plan
    plan += driver.after_agent_steps(ctx)
    if spec.backup or driver.keeps_data:
        plan.append(schedule_step(session))
    if spec.service and spec.service.worker_of:
        return plan  # a worker holds replicas the gateway machine starts on it
    if spec.service:
        return plan + service_steps(session, up_workers)
    plan += _app_start_steps(session, ctx)
    return plan + (gateway.steps(session) if spec.share else [])


def _check_gpus(session: MachineSession) -> None:
    """Refuse, before anything runs, a spec that wants more GPUs than the machine has."""
    wanted = session.record.spec.resources.accelerators
    assert wanted is not None
    found = session.agent.status().agent.gpus
    if wanted.count > len(found):
        kind = f" {wanted.name}" if wanted.name else ""
        raise BackendError(
            f"the spec asks for {wanted.count}{kind} GPU(s); machine '{session.record.name}' has "
            f"{len(found)} (nvidia-smi). Nothing was run.",
            hint="pick a machine with GPUs, or remove 'accelerators' from the spec",
        )


def _run_setup(session: MachineSession, progress: Progress) -> None:
    """The spec's setup, once per change of its text, in the workdir with the spec's envs."""
    spec, record = session.record.spec, session.record
    runner = session.runner
    env = {**spec.envs, **session.job_path(), **{name: os.environ[name] for name in spec.secrets}}
    result = run_script(  # secrets and the script on stdin: never in a command line, any size
        runner,
        spec.setup or "true",
        cwd=f"{record.facts.home}/workdir",
        env=env,
        check=False,
        on_output=lambda line: progress.info("    " + line.rstrip("\n")),
    )
    result.check("setup")
