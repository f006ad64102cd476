"""What the machine's agent watches by itself: its autostop, its budget, and where it sends
its events (apprise, installed on the machine when the spec has notify targets)."""

from __future__ import annotations

from roost.apps import AppContext, app_driver
from roost.apps.uvenv import ensure_venv
from roost.errors import SpecError
from roost.machine.steps import Step
from roost.notify.targets import remember, resolve
from roost.session import MachineSession
from roost.spec.model import BackendKind, Spec

APPRISE = "apprise>=1.9,<3"


def check_guards(spec: Spec) -> None:
    """Refuse, before anything is made, notify targets apprise cannot use and a budget the
    machine cannot keep."""
    resolve(spec)
    budget = spec.budget
    driver = app_driver(spec)
    if budget and budget.then == "down" and driver is not None and driver.keeps_data:
        raise SpecError(
            f"budget.then: down would delete {driver.name}'s data at the cap (a stopped machine cannot be backed up)",
            file=spec.source,
            field="budget.then",
            hint="use then: stop (the data stays; `roost backup` after `roost start`)",
        )
    if budget and budget.then == "down" and spec.backend is BackendKind.aws:
        if spec.resources.spot:
            raise SpecError(
                "budget.then: down is not for spot instances (a spot instance's power-off stops it)",
                file=spec.source,
                field="budget.then",
                hint="use then: stop",
            )
        if spec.autostop and not spec.autostop.down:
            raise SpecError(
                "on AWS, budget.then: down makes the machine's power-off a termination, autostop's too",
                file=spec.source,
                field="budget.then",
                hint="set autostop.down: true as well, or budget.then: stop",
            )


def hourly_usd(session: MachineSession) -> float | None:
    """The machine's price: ``resources.price_per_hour``, else its cloud offer's (None: unknown)."""
    spec, cloud = session.record.spec, session.record.facts.cloud
    if spec.resources.price_per_hour is not None:
        return spec.resources.price_per_hour
    return cloud.hourly_usd if cloud and cloud.hourly_usd else None


def notifier_venv(session: MachineSession) -> str:
    """Where apprise lives on the machine."""
    return f"{session.record.facts.home}/venvs/notify"


def agent_config(session: MachineSession) -> dict[str, object]:
    """The agent's settings for this machine: autostop, power-off, the budget (with the price),
    notify targets and the spot notice (``AgentClient.start`` hands them over)."""
    spec = session.record.spec
    budget = spec.machine_budget
    home = session.record.facts.home
    notify, urls = None, resolve(spec)
    remember(spec.name, urls)  # for the server and `roost watch`, which send the events they see
    if urls:
        notify = {
            "apprise": f"{notifier_venv(session)}/bin/apprise",
            "urls_file": f"{home}/agent/notify-urls",
            "machine": spec.name,
        }
    return {
        "autostop_seconds": spec.autostop.idle_seconds if spec.autostop else None,
        "poweroff_command": session.backend.poweroff_command(),
        "budget": {**budget.model_dump(), "hourly_usd": hourly_usd(session)} if budget else None,
        "notify": notify,
        "interruption": _interruption(session),
    }


SPOT_NOTICE_FILE = "~/.roost-spot/instance-action"
"""Where an AWS spot instance's root relay writes EC2's interruption notice (its user-data)."""


def _interruption(session: MachineSession) -> dict[str, str] | None:
    """On a spot instance: where the agent finds EC2's interruption notice and what it sends the jobs."""
    cloud = session.record.facts.cloud
    if not (cloud and cloud.spot):
        return None
    return {"file": SPOT_NOTICE_FILE, "signal": session.record.spec.on_interrupt}


def _install_notifier(session: MachineSession, ctx: AppContext) -> None:
    urls = resolve(session.record.spec)
    ensure_venv(ctx.runner, ctx.tools, notifier_venv(session), [APPRISE])
    # one URL per line, 0600: apprise reads them from APPRISE_URLS, never a command line
    session.runner.write_file(
        f"{session.record.facts.home}/agent/notify-urls", ("\n".join(urls) + "\n").encode(), mode=0o600
    )


def notifier_steps(session: MachineSession, ctx: AppContext) -> tuple[Step, ...]:
    """Install apprise on the machine and give it the targets (none without notify targets)."""
    if not resolve(session.record.spec):
        return ()
    return (Step("notifier", "install notifier (apprise)", lambda: _install_notifier(session, ctx), always=True),)
