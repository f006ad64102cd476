"""The backup verbs: ``roost backup``, ``roost backups`` and ``roost restore``."""

from __future__ import annotations

from pathlib import Path

from roost.backups.machine import collect, put_back, take
from roost.backups.store import BackupInfo
from roost.backups.stores import store_for
from roost.lifecycle.health import healthy
from roost.lifecycle.machines import resolve_spec, up
from roost.machine.state import find_record
from roost.session import load_session
from roost.spec.model import Spec


def backup(name: str) -> BackupInfo:
    """Take a consistent snapshot while the app runs, copy it here, verify it, keep it."""
    return take(load_session(name))


def list_backups(name: str, *, collect_scheduled: bool = True) -> list[BackupInfo]:
    """The machine's whole backups, oldest first; scheduled ones are collected first when the
    machine answers (an unreachable machine lists what the store has)."""
    session = load_session(name)
    if collect_scheduled and session.record.spec.backup and healthy(session):
        collect(session)
    return store_for(session.record.spec.backup_to, name).list()


def restore(
    name: str, backup_id: str, *, source: str | None = None, force: bool = False, spec: str | Path | Spec | None = None
) -> BackupInfo:
    """Put backup ``backup_id`` (of machine ``source``, default ``name``) onto machine ``name``.

    With ``spec`` (a Spec, a spec file or an app name), a machine that does not exist yet is
    brought up from it first. Every
    checksum is verified before the machine is touched. A machine whose data changed
    after the backup was taken is refused unless ``force``; its previous data is always
    kept aside on the machine. The app comes back with the restored data.
    """
    if spec is not None and find_record(name) is None:
        up(resolve_spec(spec, name))
        force = True  # its only data is the admin roost just made, and it is kept aside all the same
    session = load_session(name)
    info = put_back(session, backup_id, source=source, force=force)
    up(session.record.spec, reconcile=True)
    return info
