"""Backups of an app's data: ``roost backup``, ``roost backups``, ``roost restore``.

A backup is a directory named by its id holding ``database.sqlite3.gz`` (SQLite's online
backup API, taken while the app runs), ``media.tar.gz`` (uploads) and ``manifest.json``
(sha256 and size of each file, when, which machine, how many annotations). It is written
to ``<id>.partial`` and renamed only once its checksums verify, so a listed backup is
whole; a restore verifies every checksum again before touching the machine, and keeps the
machine's previous data aside.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from roost.backup_scripts import DATA_STAMP, RESTORE, SNAPSHOT
from roost.errors import AppError, NotBuiltYet, RoostError, SpecError
from roost.paths import roost_home
from roost.session import MachineSession, load_session
from roost.sync import rsync


class BackupError(RoostError):
    """A backup could not be taken, or is not whole and is refused."""


class BackupInfo(BaseModel):
    """One backup as its manifest describes it, and where it is."""

    id: str
    machine: str
    app: str
    created_at: float
    annotations: int
    bytes: int
    location: str


def store_for(spec_backup_to: str | None, machine: str) -> Path:
    """The directory holding a machine's backups: ``backup_to`` (file://) or ROOST_HOME/backups."""
    if not spec_backup_to:
        return roost_home() / "backups" / machine
    parts = urlsplit(spec_backup_to)
    if parts.scheme == "s3":
        raise NotBuiltYet(f"backup_to '{spec_backup_to}': S3 backups are not built yet; nothing was written",
                          hint="use a directory (file:///path) for now")
    if parts.scheme != "file" or not parts.path:
        raise SpecError(f"backup_to '{spec_backup_to}' is not a file:// or s3:// URL", field="backup_to",
                        hint="write it like file:///srv/backups or s3://bucket/prefix")
    return Path(parts.path) / machine


def _driver_data(session: MachineSession) -> str:
    from roost.apps.label_studio import LabelStudioDriver

    if not isinstance(session.driver, LabelStudioDriver):
        raise AppError(f"machine '{session.record.name}' has no app with data roost backs up",
                       hint="backups are for Label Studio machines")
    assert session.record.facts.home
    return LabelStudioDriver.data_dir(session.record.facts.home)


def backup(name: str) -> BackupInfo:
    """Take a consistent snapshot while the app runs, copy it here, verify it, keep it."""
    session = load_session(name)
    return take(session)


def take(session: MachineSession) -> BackupInfo:
    """:func:`backup` for an open session."""
    data, record = _driver_data(session), session.record
    assert record.facts.home
    backup_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    remote = f"{record.facts.home}/backups/{backup_id}"
    runner = session.backend.runner(record)
    runner.run(["python3", "-", data, remote, backup_id, "label-studio", record.name],
               stdin=SNAPSHOT.encode(), timeout=3600).check("take the backup on the machine")
    store = store_for(record.spec.backup_to, record.name)
    partial = store / f"{backup_id}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    try:
        rsync(session.backend.rsync_route(record), f"{remote}/", f"{partial}/", upload=False, timeout=3600)
        info = verify(partial)
        partial.rename(store / backup_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        runner.run(["rm", "-rf", "--", remote], timeout=120, check=False)
    return info.model_copy(update={"location": str(store / backup_id)})


def verify(directory: Path) -> BackupInfo:
    """Check the manifest and every file's size and sha256; BackupError naming what is wrong."""
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError):
        raise BackupError(f"backup {directory.name} has no readable manifest ({manifest_path})",
                          hint="it is partial or damaged; restore another one (`roost backups NAME`)") from None
    for file_name, expected in files.items():
        path = directory / file_name
        if not path.exists():
            raise BackupError(f"backup {directory.name} is missing {file_name}", hint="restore another backup")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if path.stat().st_size != expected["bytes"] or digest.hexdigest() != expected["sha256"]:
            raise BackupError(f"backup {directory.name} is corrupted: {file_name} does not match its checksum "
                              "in the manifest; nothing was restored", hint="restore another backup")
    return BackupInfo(id=manifest["id"], machine=manifest["machine"], app=manifest["app"],
                      created_at=manifest["created_at"], annotations=manifest.get("annotations", 0),
                      bytes=sum(f["bytes"] for f in files.values()), location=str(directory))


def list_backups(name: str) -> list[BackupInfo]:
    """The machine's whole backups, oldest first (partial ones are never listed)."""
    session = load_session(name)
    return list_backups_in(store_for(session.record.spec.backup_to, name))


def list_backups_in(store: Path) -> list[BackupInfo]:
    """The whole backups in a store directory, oldest first."""
    found = []
    for directory in sorted(store.glob("*")) if store.exists() else []:
        if directory.is_dir() and not directory.name.endswith(".partial"):
            manifest = json.loads((directory / "manifest.json").read_text())
            found.append(BackupInfo(id=manifest["id"], machine=manifest["machine"], app=manifest["app"],
                                    created_at=manifest["created_at"], annotations=manifest.get("annotations", 0),
                                    bytes=sum(f["bytes"] for f in manifest["files"].values()),
                                    location=str(directory)))
    return found


def restore(name: str, backup_id: str, *, source: str | None = None, force: bool = False) -> BackupInfo:
    """Put backup ``backup_id`` (of machine ``source``, default ``name``) onto machine ``name``.

    Every checksum is verified first. A machine whose data changed after the backup was
    taken is refused unless ``force``; its previous data is always kept aside on the machine.
    """
    from roost import lifecycle

    session = load_session(name)
    store = store_for(session.record.spec.backup_to, source or name)
    directory = store / backup_id
    if not directory.is_dir():
        raise BackupError(f"no backup '{backup_id}' of '{source or name}' in {store}",
                          hint=f"`roost backups {source or name}` lists them")
    info = verify(directory)
    data, record = _driver_data(session), session.record
    assert record.facts.home
    runner = session.backend.runner(record)
    stamp = float(runner.run(["python3", "-", data], stdin=DATA_STAMP.encode(), timeout=60).stdout.strip() or 0)
    if stamp > info.created_at and not force:
        raise BackupError(f"machine '{name}' has data changed at {time.ctime(stamp)}, after backup {backup_id} "
                          f"was taken ({time.ctime(info.created_at)}); nothing was restored",
                          hint="add --force to restore anyway (the current data is kept aside on the machine)")
    incoming = f"{record.facts.home}/restore-incoming"
    rsync(session.backend.rsync_route(record), f"{directory}/", f"{incoming}/", upload=True, timeout=3600)
    session.agent.stop()
    aside = f"{data}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}"
    runner.run(["python3", "-", data, incoming, aside], stdin=RESTORE.encode(), timeout=3600).check(
        "restore the backup on the machine")
    lifecycle.up(record.spec, reconcile=True)
    return info
