"""Which store a spec's ``backup_to`` names: a directory here, or S3."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from roost.backups.store import BackupStore, DirectoryStore
from roost.errors import SpecError
from roost.paths import roost_home


def store_for(url: str | None, machine: str) -> BackupStore:
    """The store a spec's ``backup_to`` names, for one machine's backups."""
    if not url:
        return DirectoryStore(roost_home() / "backups" / machine)
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
        return DirectoryStore(Path(parts.path) / machine)
    if parts.scheme == "s3" and parts.netloc and not parts.query:
        from roost.backups.s3 import S3Store  # start-up time: S3's client code loads for s3:// stores only

        return S3Store(parts.netloc, parts.path.strip("/"), machine, url)
    raise SpecError(
        f"backup_to '{url}' is not a backup URL",
        field="backup_to",
        hint="write it like file:///srv/backups (an absolute path) or s3://bucket/prefix",
    )
