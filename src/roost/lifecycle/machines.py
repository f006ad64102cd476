"""Bring machines and their apps up, stop, start and take them down: the library verbs.

Every verb holds the machine's lock, so two roost processes never work on one machine at
once; the second waits and then finds the work done.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from roost.apps import app_driver
from roost.backends import get_backend
from roost.backups.machine import check_spec, take_before
from roost.errors import BackendError, HostUnreachable, RoostError, SpecError
from roost.gateway.certs import forget_ca
from roost.lifecycle.guards import check_guards
from roost.lifecycle.health import healthy
from roost.lifecycle.many import up_side_by_side
from roost.lifecycle.plan import plan, provision_steps
from roost.lifecycle.ssh_access import drop_block, keep_block
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import State, find_record, machine_lock
from roost.machine.steps import run_steps
from roost.machine.vault import Vault
from roost.progress import Progress, SilentProgress
from roost.service.placement import authorize_none, worker_names, worker_session
from roost.session import MachineSession, load_session, open_session
from roost.spec.loader import load_spec, spec_for_app
from roost.spec.model import NAME_PATTERN, Spec
from roost.transfer import check_local_files

__all__ = ["DownResult", "MachineSession", "UpResult", "down", "open_session", "start", "stop", "up", "up_all"]


class UpResult(BaseModel):
    """What ``up`` (and ``start``) leave behind: a healthy app and how to reach it."""

    name: str
    backend: str
    app: str | None
    url: str | None
    login: str | None
    already_up: bool
    seconds: float
    replicas: int | None = None
    """A service's replicas at start (None for a machine that serves no service)."""


class DownResult(BaseModel):
    """What ``stop`` and ``down`` did."""

    name: str
    state: MachineState
    warnings: list[str] = []
    """What went wrong on the way without stopping it (a failed backup before stop)."""


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
            raise SpecError(
                f"value {name!r} is not a valid machine name",
                file="<command line>",
                field="name",
                hint="use 1-40 lowercase letters, digits and dashes, starting with a letter",
            )
        spec = spec.model_copy(update={"name": name})  # keeps the source for messages
    return spec


def check_secrets(spec: Spec) -> None:
    """Every secret the spec names must be set in the environment (values are never stored)."""
    missing = [secret for secret in spec.secrets if secret not in os.environ]
    if missing:
        raise SpecError(
            f"secret {', '.join(missing)} is not set in the environment",
            file=spec.source,
            field="secrets",
            hint=f"export {missing[0]}=... before running roost; roost never stores the value",
        )


def up(
    target: str | Path | Spec,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    accept_new_host_key: bool = False,
    reconcile: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> UpResult:
    """Bring the spec's machine and app up; a second call finds it healthy and returns at once.

    ``reconcile`` walks every step even on a healthy machine (sync the workdir again, run a
    changed setup); steps done before with the same inputs are still skipped. ``confirm`` gets
    what a new billed machine will cost before anything is made; False stops there.
    """
    progress = progress or SilentProgress()
    started = time.monotonic()
    spec = resolve_spec(target, name)
    check_secrets(spec)
    check_local_files(spec.source, spec.workdir, spec.file_mounts)
    get_backend(spec.backend.value)
    driver = app_driver(spec)
    check_spec(spec, bool(driver and driver.keeps_data))
    check_guards(spec)
    wait_note = f"another roost is working on '{spec.name}'; waiting for it"
    with machine_lock(spec.name, on_wait=lambda: progress.info(wait_note)):
        state = State()
        try:
            record = state.get(spec.name)
            is_new = record is None
            record = record or _new_record(spec)
            if record.backend != spec.backend.value:
                raise BackendError(
                    f"machine '{spec.name}' already exists on the {record.backend} backend",
                    hint=f"run `roost down {spec.name}` first, or pick another name",
                )
            session = MachineSession(state, record, accept_new_host_key=accept_new_host_key)
            if (
                not reconcile
                and record.spec.same_as(spec)
                and record.state == MachineState.RUNNING
                and healthy(session)
            ):
                return _up_result(session, already_up=True, started=started)
            session.backend.confirm = confirm if is_new else None  # asked once its offer is checked
            _bring_up(session, spec, progress, is_new=is_new)
            keep_block(session)  # `ssh roost-NAME` reaches it as it is now
            return _up_result(session, already_up=False, started=started)
        finally:
            state.close()


def _new_record(spec: Spec) -> MachineRecord:
    """The record of a machine about to be made."""
    now = time.time()
    return MachineRecord(
        name=spec.name,
        backend=spec.backend.value,
        spec=spec,
        state=MachineState.PROVISIONING,
        created_at=now,
        updated_at=now,
    )


def _bring_up(session: MachineSession, spec: Spec, progress: Progress, *, is_new: bool) -> None:
    """Provision, then the rest of the plan; record UNREACHABLE when the host drops out."""
    state, record = session.state, session.record
    current = session.backend.status(record)
    if current == MachineState.TERMINATED:
        state.forget_steps(spec.name)  # the machine vanished: start from the beginning
    elif current == MachineState.UNREACHABLE:
        state.set_state(spec.name, MachineState.UNREACHABLE)
        host = record.facts.host or spec.name
        raise HostUnreachable(
            host,
            "cannot connect; nothing was changed",
            step="reach the machine",
            hint="check the network or that the machine is on; `roost up` resumes when it is back",
        )
    session.previous_spec = record.spec if not is_new else None
    record.spec = spec
    session.driver = app_driver(spec)  # the session was opened with the recorded (maybe older) spec
    session.save()
    session.backend.say = progress.info
    try:
        run_steps(state, spec.name, provision_steps(session), progress)
    except BaseException as exc:
        if is_new:
            _abandon(session, exc, progress)
        raise
    try:
        run_steps(
            state,
            spec.name,
            plan(session, progress, up_workers=lambda workers: _up_workers(session, workers, progress)),
            progress,
            reconnect=lambda lost: _reconnect(session, lost),
        )
    except HostUnreachable:
        state.set_state(spec.name, MachineState.UNREACHABLE)
        raise
    record.state = MachineState.RUNNING
    session.save()


def _reconnect(session: MachineSession, lost: HostUnreachable) -> bool:
    """After the machine's connection dropped under a step: close what is left of it and open a
    new one; True when the machine answers (False for another host's failure, e.g. a worker's)."""
    runner = session.runner
    if lost.host != runner.label:
        return False
    try:
        runner.close()
        return runner.run("true", timeout=30, check=False).ok
    except RoostError:
        return False


def _abandon(session: MachineSession, failure: BaseException, progress: Progress) -> None:
    """A new machine failed to come up: delete what was made for it, then its record.

    If the clean-up itself fails, the record stays so that `roost down` can finish it.
    """
    name = session.record.name
    if session.backend.creates_resources:
        progress.info(f"  removing what was created for '{name}'")
        try:
            for step in session.backend.terminate_steps(session.record):
                step.action()
        except RoostError as cleanup:
            if isinstance(failure, RoostError):
                failure.hint = (
                    f"{failure.hint}; " if failure.hint else ""
                ) + f"cleaning up failed too ({cleanup}): run `roost down {name}`"
            return
    session.state.delete(name)


def _up_result(session: MachineSession, *, already_up: bool, started: float) -> UpResult:
    driver = session.driver
    return UpResult(
        name=session.record.name,
        backend=session.record.backend,
        app=driver.name if driver else None,
        url=session.url(),
        login=driver.login_hint(session.context()) if driver else None,
        already_up=already_up,
        seconds=time.monotonic() - started,
        replicas=session.record.spec.service.initial if session.record.spec.service else None,
    )


def stop(name: str) -> DownResult:
    """Stop the machine's apps and agent (and the machine, where it can stop); keep all data."""
    with machine_lock(name):
        state = State()
        try:
            session = open_session(state, name)
            if session.backend.status(session.record) == MachineState.TERMINATED:
                raise BackendError(f"machine '{name}' no longer exists", hint=f"run `roost down {name}` to forget it")
            failed = take_before(session, "stop")
            session.agent.stop()
            session.backend.stop(session.record)
            session.record.state = MachineState.STOPPED
            session.save()
            warnings = [f"the backup before stop failed (the data is still on the machine): {failed}"] if failed else []
            warnings += _stop_workers(session.record.spec)
            return DownResult(name=name, state=MachineState.STOPPED, warnings=warnings)
        finally:
            state.close()


def start(name: str, *, progress: Progress | None = None) -> UpResult:
    """Start a stopped machine and bring the same app back, with its data."""
    session = load_session(name)
    session.backend.start(session.record)
    return up(session.record.spec, progress=progress)


def _backup_before_down(session: MachineSession) -> None:
    """Collect and take a backup of an app with data before it goes; refuse ``down`` when that fails."""
    failed = take_before(session, "down")
    if failed:
        raise BackendError(
            f"the backup before `down` failed, so '{session.record.name}' was kept: {failed}",
            hint=f"fix that (a stopped machine: `roost start {session.record.name}`) and run "
            "`roost down` again, or `roost down --no-backup` to delete the machine and its "
            "data without one",
        )


def down(name: str, *, no_backup: bool = False) -> DownResult:
    """Take the machine down for good: processes, files, secrets and its state record.

    An app with data (Label Studio) is backed up first; if that fails nothing is removed,
    unless ``no_backup``.
    """
    with machine_lock(name):
        state = State()
        try:
            session = open_session(state, name)
            if not no_backup:
                _backup_before_down(session)
            live = session.backend.status(session.record)
            if session.record.facts.home and live in (MachineState.RUNNING, MachineState.PROVISIONING):
                try:
                    session.agent.stop()
                except RoostError:
                    pass  # an unreachable agent must not keep a machine alive
            run_steps(state, name, session.backend.terminate_steps(session.record), SilentProgress())
            Vault(name).delete_all()
            drop_block(name)
            forget_ca(name)  # the CA and its key: they sign for this machine only
            state.delete(name)
            return DownResult(name=name, state=MachineState.TERMINATED, warnings=_down_workers(session.record.spec))
        finally:
            state.close()


def _up_workers(session: MachineSession, workers: list[Spec], progress: Progress) -> None:
    """Bring a service's worker machines up side by side (install, sync, setup); each is a
    machine of its own in roost's state, so `roost status` lists it and a crash resumes it."""
    up_all(workers, progress=progress, accept_new_host_key=session.backend.accept_new_host_key)


def up_all(specs: list[Spec], *, progress: Progress, accept_new_host_key: bool) -> list[UpResult]:
    """Bring several machines up at once (see :mod:`roost.lifecycle.many`)."""
    return up_side_by_side(specs, up=up, down=down, progress=progress, accept_new_host_key=accept_new_host_key)


def _down_workers(spec: Spec) -> list[str]:
    """Take the service's workers down (their tunnel key removed first); the warnings of those
    that could not be reached."""

    def take_down(worker: MachineSession) -> None:
        authorize_none(spec.name, worker)
        down(worker.record.name)

    return _each_worker(spec, take_down, "taken down", "; run `roost down {name}` later")


def _stop_workers(spec: Spec) -> list[str]:
    """Stop the service's workers (their replicas end, their data stays); warnings as for down."""
    return _each_worker(spec, lambda worker: stop(worker.record.name), "stopped", "")


def _each_worker(spec: Spec, act: Callable[[MachineSession], object], done: str, later: str) -> list[str]:
    """``act`` on every recorded worker of the service; a warning for each it failed on."""
    warnings = []
    for name in worker_names(spec):
        if find_record(name) is None:
            continue
        try:
            act(worker_session(name))
        except RoostError as exc:
            warnings.append(f"worker machine '{name}' was not {done} ({exc})" + later.format(name=name))
    return warnings
