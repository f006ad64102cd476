"""Bring machines and their apps up, stop, start and take them down: the library verbs.

Every verb holds the machine's lock, so two roost processes never work on one machine at
once; the second waits and then finds the work done.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from pydantic import BaseModel

from roost.agent.client import AgentClient
from roost.apps import AppContext, AppDriver, app_driver
from roost.backends import Backend, get_backend
from roost.errors import AgentError, BackendError, HostUnreachable, MachineNotFound, RoostError, SpecError
from roost.machine import MachineRecord, MachineState
from roost.progress import Progress, SilentProgress
from roost.spec import NAME_PATTERN, Spec
from roost.spec_loader import load_spec, spec_for_app
from roost.state import State, machine_lock
from roost.steps import Parallel, Step, fingerprint, run_steps
from roost.vault import Vault


class UpResult(BaseModel):
    """What ``up`` (and ``start``) leave behind: a healthy app and how to reach it."""

    name: str
    backend: str
    app: str
    url: str
    login: str
    already_up: bool
    seconds: float


class DownResult(BaseModel):
    """What ``stop`` and ``down`` did."""

    name: str
    state: MachineState


def resolve_spec(target: str | Path | Spec, name: str | None = None) -> Spec:
    """A Spec from a Spec, a spec file path, or an app name (``jupyter``)."""
    if isinstance(target, Spec):
        spec = target
    elif str(target).endswith((".yaml", ".yml")) or os.path.sep in str(target) or Path(target).is_file():
        spec = load_spec(target)
    else:
        spec = spec_for_app(str(target), name)
    if name and name != spec.name:
        if not re.match(NAME_PATTERN, name):
            raise SpecError(f"value {name!r} is not a valid machine name", file="<command line>", field="name",
                            hint="use 1-40 lowercase letters, digits and dashes, starting with a letter")
        spec = spec.model_copy(update={"name": name})  # keeps the source for messages
    return spec


def check_secrets(spec: Spec) -> None:
    """Every secret the spec names must be set in the environment (values are never stored)."""
    missing = [secret for secret in spec.secrets if secret not in os.environ]
    if missing:
        raise SpecError(f"secret {', '.join(missing)} is not set in the environment", file=spec.source,
                        field="secrets",
                        hint=f"export {missing[0]}=... before running roost; roost never stores the value")


class MachineSession:
    """One machine's record with its backend, runner, agent and app driver, ready to use."""

    def __init__(self, state: State, record: MachineRecord, *, accept_new_host_key: bool = False) -> None:
        self.state = state
        self.record = record
        self.backend: Backend = get_backend(record.backend, accept_new_host_key=accept_new_host_key)
        self.driver: AppDriver = app_driver(record.spec)

    @property
    def agent(self) -> AgentClient:
        """The agent on this machine (requires a provisioned machine)."""
        assert self.record.facts.home
        return AgentClient(self.backend.runner(self.record), self.record.facts.home)

    def context(self) -> AppContext:
        """What the app driver works with."""
        return AppContext(record=self.record, runner=self.backend.runner(self.record), agent=self.agent,
                          make_tools=lambda: self.backend.tools(self.record), vault=Vault(self.record.name))

    def url(self) -> str:
        """The app's URL as seen from this computer."""
        assert self.record.facts.app_port
        return self.backend.app_url(self.record, self.record.facts.app_port, self.driver.url_path)

    def save(self) -> None:
        """Persist the record (facts and state)."""
        self.state.save(self.record)

    def healthy(self) -> bool:
        """True when the agent runs and reports the app healthy."""
        if self.record.facts.home is None:
            return False
        try:
            app = self.agent.status().apps.get(self.driver.name)
        except AgentError:
            return False
        return bool(app and app.healthy)


def _provision(session: MachineSession) -> None:
    session.record.facts = session.backend.provision(session.record)
    session.save()
    session.backend.wait_ready(session.record)


def _allocate_port(session: MachineSession) -> None:
    spec_port = session.record.spec.app.port if session.record.spec.app else None
    if spec_port or not session.record.facts.app_port:
        session.record.facts.app_port = spec_port or session.agent.free_port()
        session.save()


def _prepare_installers(ctx: AppContext, progress: Progress) -> None:
    if ctx.tools.note:
        progress.info(f"  {ctx.tools.note}")


def _plan(session: MachineSession, progress: Progress) -> list[Step | Parallel]:
    """After provisioning: the agent lane and the app-install lane at once, then start, wait."""
    spec, driver = session.record.spec, session.driver
    ctx = session.context()
    agent_lane = (
        Step("agent-install", "install agent", session.agent.install, always=True),
        Step("agent-start", "start agent", session.agent.start, always=True),
        Step("app-port", "choose app port", lambda: _allocate_port(session),
             inputs=fingerprint(spec.app.port if spec.app else None)),
    )
    prepare = Step("installers", "prepare installers (uv)", lambda: _prepare_installers(ctx, progress), always=True)
    lanes = [agent_lane, (prepare, *driver.steps(ctx))]
    if spec.workdir or spec.file_mounts:
        from roost.transfer import push_files

        lanes.append((Step("sync", "sync workdir and file mounts", lambda: push_files(session), always=True),))
    return [
        Parallel(tuple(lanes)),
        Step("app-register", f"start {driver.name}", lambda: ctx.agent.put_app(driver.definition(ctx)), always=True),
        Step("app-healthy", f"wait for {driver.name} to answer",
             lambda: ctx.agent.wait_healthy(driver.name, driver.health_timeout,
                                           log_hint=f"see `roost logs {session.record.name}`"),
             always=True),
    ]


def up(target: str | Path | Spec, *, name: str | None = None, progress: Progress | None = None,
       accept_new_host_key: bool = False) -> UpResult:
    """Bring the spec's machine and app up; a second call finds it healthy and returns at once."""
    progress = progress or SilentProgress()
    started = time.monotonic()
    spec = resolve_spec(target, name)
    check_secrets(spec)
    get_backend(spec.backend.value)
    app_driver(spec)
    wait_note = f"another roost is working on '{spec.name}'; waiting for it"
    with machine_lock(spec.name, on_wait=lambda: progress.info(wait_note)):
        state = State()
        try:
            record = state.get(spec.name)
            if record is not None and record.backend != spec.backend.value:
                raise BackendError(f"machine '{spec.name}' already exists on the {record.backend} backend",
                                   hint=f"run `roost down {spec.name}` first, or pick another name")
            is_new = record is None
            if record is None:
                now = time.time()
                record = MachineRecord(name=spec.name, backend=spec.backend.value, spec=spec,
                                       state=MachineState.PROVISIONING, created_at=now, updated_at=now)
            session = MachineSession(state, record, accept_new_host_key=accept_new_host_key)
            if record.spec.same_as(spec) and record.state == MachineState.RUNNING and session.healthy():
                return _up_result(session, already_up=True, started=started)
            _bring_up(session, spec, progress, is_new=is_new)
            return _up_result(session, already_up=False, started=started)
        finally:
            state.close()


def _bring_up(session: MachineSession, spec: Spec, progress: Progress, *, is_new: bool) -> None:
    """Provision, then the rest of the plan; record UNREACHABLE when the host drops out."""
    state, record = session.state, session.record
    current = session.backend.status(record)
    if current == MachineState.TERMINATED:
        state.forget_steps(spec.name)  # the machine vanished: start from the beginning
    elif current == MachineState.UNREACHABLE:
        state.set_state(spec.name, MachineState.UNREACHABLE)
        host = record.facts.host or spec.name
        raise HostUnreachable(host, "cannot connect; nothing was changed", step="reach the machine",
                              hint="check the network or that the machine is on; `roost up` resumes when it is back")
    record.spec = spec
    session.save()
    provision = Step("provision", f"provision {spec.backend.value} machine", lambda: _provision(session),
                     inputs=fingerprint(spec.resources.model_dump(), [h.model_dump() for h in spec.hosts]))
    try:
        run_steps(state, spec.name, [provision], progress)
    except BaseException:
        if is_new:
            state.delete(spec.name)  # nothing was made: leave no half-made record behind
        raise
    try:
        run_steps(state, spec.name, _plan(session, progress), progress)
    except HostUnreachable:
        state.set_state(spec.name, MachineState.UNREACHABLE)
        raise
    record.state = MachineState.RUNNING
    session.save()


def _up_result(session: MachineSession, *, already_up: bool, started: float) -> UpResult:
    return UpResult(name=session.record.name, backend=session.record.backend, app=session.driver.name,
                    url=session.url(), login=session.driver.login_hint(session.context()),
                    already_up=already_up, seconds=time.monotonic() - started)


def open_session(state: State, name: str) -> MachineSession:
    """The session of a known machine; MachineNotFound otherwise."""
    record = state.get(name)
    if record is None:
        raise MachineNotFound(name)
    return MachineSession(state, record)


def stop(name: str) -> DownResult:
    """Stop the machine's apps and agent (and the machine, where it can stop); keep all data."""
    with machine_lock(name):
        state = State()
        try:
            session = open_session(state, name)
            if session.backend.status(session.record) == MachineState.TERMINATED:
                raise BackendError(f"machine '{name}' no longer exists", hint=f"run `roost down {name}` to forget it")
            session.agent.stop()
            session.backend.stop(session.record)
            state.set_state(name, MachineState.STOPPED)
            return DownResult(name=name, state=MachineState.STOPPED)
        finally:
            state.close()


def start(name: str, *, progress: Progress | None = None) -> UpResult:
    """Start a stopped machine and bring the same app back, with its data."""
    state = State()
    try:
        session = open_session(state, name)
    finally:
        state.close()
    session.backend.start(session.record)
    return up(session.record.spec, progress=progress)


def down(name: str) -> DownResult:
    """Take the machine down for good: processes, files, secrets and its state record."""
    with machine_lock(name):
        state = State()
        try:
            session = open_session(state, name)
            if session.record.facts.home and session.backend.status(session.record) != MachineState.TERMINATED:
                try:
                    session.agent.stop()
                except RoostError:
                    pass  # an unreachable agent must not keep a machine alive
            session.backend.terminate(session.record)
            Vault(name).delete_all()
            state.delete(name)
            return DownResult(name=name, state=MachineState.TERMINATED)
        finally:
            state.close()
