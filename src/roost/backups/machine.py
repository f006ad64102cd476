"""Backups of an app's data: ``roost backup``, ``roost backups``, ``roost restore``, ``backup:``.

A backup is taken on the machine by SNAPSHOT while the app keeps running (SQLite's online
backup API or ``pg_dump``, plus the uploads), copied here, verified, and kept in the
spec's store (``backup_to``: a directory or S3). The machine's agent takes scheduled
backups by itself into the machine's own ``backups/scheduled`` (the newest ``keep``);
roost collects those into the store whenever it lists backups and before stop/down. A
restore verifies every checksum before it touches the machine and keeps the machine's
previous data aside.
"""

from __future__ import annotations

import json
import shutil
import time

from roost.backups.scripts import DATA_STAMP, LIST_WHOLE, RESTORE, SNAPSHOT
from roost.backups.store import BackupInfo, BackupStore, backup_id_of, verify
from roost.backups.stores import store_for
from roost.errors import AppError, BackupError, RoostError, SpecError
from roost.machine.record import MachineState
from roost.machine.steps import Step
from roost.paths import is_safe_name
from roost.session import MachineSession
from roost.spec.model import Spec
from roost.transport.rsync import rsync

__all__ = ["BackupInfo", "check_spec", "collect", "put_back", "schedule_step", "take", "take_before"]


def check_spec(spec: Spec, keeps_data: bool) -> None:
    """Refuse ``backup:`` on an app without data, and a ``backup_to`` that is not a backup URL."""
    if spec.backup and not keeps_data:
        raise SpecError(
            "scheduled backups are for apps with data roost backs up (label-studio, roost-server)",
            file=spec.source,
            field="backup",
            hint="remove 'backup:' from the spec",
        )
    if spec.backup_to and not spec.backup_to.startswith("s3://"):
        store_for(spec.backup_to, spec.name)  # raises SpecError for a malformed URL


def _source(session: MachineSession) -> dict[str, object]:
    driver = session.driver
    if driver is None or not driver.keeps_data:
        raise AppError(
            f"machine '{session.record.name}' has no app with data roost backs up",
            hint="backups are for Label Studio and roost-server machines",
        )
    return driver.backup_config(session.context())


def machine_dir(home: str, kind: str) -> str:
    """Where backups of one kind are written on the machine."""
    return f"{home}/backups/{kind}"


def take(session: MachineSession, kind: str = "manual") -> BackupInfo:
    """:func:`backup` for an open session; the store is checked before anything is taken."""
    record = session.record
    assert record.facts.home
    store = store_for(record.spec.backup_to, record.name)
    store.check()
    config = {
        **_source(session),
        "out_root": machine_dir(record.facts.home, "taken"),
        "machine": record.name,
        "kind": kind,
        "keep": None,
    }
    runner = session.runner
    result = runner.run(["python3", "-", json.dumps(config)], stdin=SNAPSHOT.encode(), timeout=3600)
    result.check("take the backup on the machine")
    backup_id = backup_id_of(json.loads(result.stdout.strip().splitlines()[-1])["id"], f"machine {record.name}")
    remote = f"{config['out_root']}/{backup_id}"
    try:
        return _copy_in(session, store, remote, backup_id)
    finally:
        runner.run(["rm", "-rf", "--", remote], timeout=120, check=False)


def _copy_in(session: MachineSession, store: BackupStore, remote: str, backup_id: str) -> BackupInfo:
    """Copy a backup from the machine, verify it, keep it in the store."""
    staged = store.staging(backup_id)
    try:
        rsync(session.backend.rsync_route(session.record), f"{remote}/", f"{staged}/", upload=False, timeout=3600)
        info = verify(staged)
        location = store.commit(staged, backup_id)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return info.model_copy(update={"location": location})


def collect(session: MachineSession) -> list[BackupInfo]:
    """Copy the agent's scheduled backups that the store lacks; keep the newest ``keep`` there."""
    record = session.record
    assert record.facts.home
    where = machine_dir(record.facts.home, "scheduled")
    listing = session.runner.run(["python3", "-", where], stdin=LIST_WHOLE.encode(), timeout=60)
    names = _json_list(listing.check("list scheduled backups").stdout, f"{record.name}:{where}")
    store = store_for(record.spec.backup_to, record.name)
    store.check()
    have = {info.id for info in store.list()}
    fresh = [
        _copy_in(session, store, f"{where}/{backup_id}", backup_id)
        for backup_id in names
        if is_safe_name(backup_id) and backup_id not in have  # any other name was not written by roost
    ]
    if record.spec.backup:
        scheduled = [info for info in store.list() if info.kind == "scheduled"]
        for old in scheduled[: -record.spec.backup.keep]:
            store.delete(old.id)
    return fresh


def _json_list(text: str, source: str) -> list[object]:
    """The JSON list a machine printed; BackupError naming ``source`` when it is not one."""
    try:
        value = json.loads(text.strip().splitlines()[-1] if text.strip() else "[]")
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise BackupError(f"the listing of {source} was not a JSON list", hint="run again; report it if it stays")
    return value


def put_back(session: MachineSession, backup_id: str, *, source: str | None = None, force: bool = False) -> BackupInfo:
    """Put backup ``backup_id`` (of machine ``source``, default this one) onto the machine's
    data, its agent stopped; the caller brings the app back. Every checksum is verified before
    the machine is touched; data newer than the backup is refused unless ``force``; the
    previous data is always kept aside on the machine."""
    store = store_for(session.record.spec.backup_to, source or session.record.name)
    with store.fetched(backup_id) as directory:
        info = verify(directory)
        config = _source(session)
        _refuse_mismatch(session, info, config, force)
        record = session.record
        assert record.facts.home
        incoming = f"{record.facts.home}/restore-incoming"
        rsync(session.backend.rsync_route(record), f"{directory}/", f"{incoming}/", upload=True, timeout=3600)
    session.agent.stop()
    aside = f"{config['data']}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}"
    session.runner.run(
        ["python3", "-", json.dumps({**config, "incoming": incoming, "aside": aside})],
        stdin=RESTORE.encode(),
        timeout=3600,
    ).check("restore the backup on the machine")
    return info


def _refuse_mismatch(session: MachineSession, info: BackupInfo, config: dict[str, object], force: bool) -> None:
    """Refuse a backup of another database kind, or data newer than the backup (unless ``force``)."""
    name, runner = session.record.name, session.runner
    database = "postgres" if config.get("postgres") else "sqlite"
    if info.database != database:
        raise BackupError(
            f"backup {info.id} holds a {info.database} database and '{name}' uses {database}; nothing was restored",
            hint=f"restore it onto a machine with database: {info.database}",
        )
    stamp = float(
        runner.run(["python3", "-", json.dumps(config)], stdin=DATA_STAMP.encode(), timeout=60).stdout.strip() or 0
    )
    if stamp > info.created_at and not force:
        raise BackupError(
            f"machine '{name}' has data changed at {time.ctime(stamp)}, after backup {info.id} "
            f"was taken ({time.ctime(info.created_at)}); nothing was restored",
            hint="add --force to restore anyway (the current data is kept aside on the machine)",
        )


def schedule_step(session: MachineSession) -> Step:
    """Install the snapshot program and give the agent the spec's schedule (or take it away)."""
    schedule = session.record.spec.backup

    def apply() -> None:
        record = session.record
        assert record.facts.home
        if schedule is None:
            session.agent.put_config(schedules={})
            return
        script = f"{record.facts.home}/bin/roost-snapshot.py"
        session.runner.write_file(script, SNAPSHOT.encode(), mode=0o700)
        config = {
            **_source(session),
            "out_root": machine_dir(record.facts.home, "scheduled"),
            "machine": record.name,
            "kind": "scheduled",
            "keep": schedule.keep,
        }
        session.agent.put_config(
            schedules={
                "backup": {"argv": ["python3", script, json.dumps(config)], "every_seconds": schedule.every_seconds}
            }
        )

    if schedule is None:
        return Step("backup-schedule", "no scheduled backups", apply, always=True)
    return Step(
        "backup-schedule",
        f"schedule backups every {schedule.every_seconds:g}s (keep {schedule.keep})",
        apply,
        always=True,
    )


def take_before(session: MachineSession, verb: str) -> str | None:
    """Collect scheduled backups and take one before ``verb`` (stop/down): the failure's
    message, or None when it worked or there is no data to back up. A machine that is not
    running cannot be backed up, which is said too (its data would go with it on down)."""
    if session.driver is None or not session.driver.keeps_data or not session.record.facts.home:
        return None
    try:
        live = session.backend.status(session.record)
        if live != MachineState.RUNNING:
            return f"'{session.record.name}' is {live.value}, so no backup could be taken"
        if session.record.spec.backup:
            collect(session)
        take(session, kind=f"before-{verb}")
    except RoostError as exc:
        return exc.message
    return None
