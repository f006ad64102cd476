"""Where backups are kept: a directory (``file://``, default under ROOST_HOME) or S3.

A backup is a folder named by its id holding the data files and ``manifest.json`` (sha256
and size of each file). A store only ever shows whole backups: a directory store writes
``<id>.partial`` and renames it; S3 gets the manifest last, so a listed backup has every
file. Every backup is verified before it is kept and again before it is restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from roost.errors import BackupError, RoostError
from roost.paths import inside, is_safe_name, roost_home, safe_name

MANIFEST = "manifest.json"
# Every file a backup may hold (backups/scripts.py writes these and nothing else): a name in a
# manifest outside this set is refused before it becomes a path.
BACKUP_FILES = frozenset({"database.sqlite3.gz", "database.pgdump", "media.tar.gz"})


def manifest_files(manifest: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``files``, each name one of BACKUP_FILES; BackupError naming ``where`` otherwise."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BackupError(f"the manifest of {where} lists no files", hint="restore another backup")
    strange = sorted(repr(name) for name in files if name not in BACKUP_FILES)
    if strange:
        raise BackupError(
            f"the manifest of {where} lists files roost never writes: {', '.join(strange)}; nothing was restored",
            hint="it was not made by roost; restore another backup",
        )
    return files


def backup_id_of(name: str, source: str) -> str:
    """A backup id given by a user or found in a store or on a machine, checked to be a plain name."""
    return safe_name(name, "backup id", source)


class BackupInfo(BaseModel):
    """One backup as its manifest describes it, and where it is."""

    id: str
    machine: str
    app: str
    database: str = "sqlite"
    kind: str = "manual"
    started_at: float = 0.0
    created_at: float
    annotations: int
    bytes: int
    location: str


def info_from(manifest: dict[str, Any], location: str) -> BackupInfo:
    """The BackupInfo a manifest describes (its id checked to be a plain name)."""
    return BackupInfo(
        id=backup_id_of(manifest["id"], location),
        machine=manifest["machine"],
        app=manifest["app"],
        database=manifest.get("database", "sqlite"),
        kind=manifest.get("kind", "manual"),
        started_at=manifest.get("started_at", manifest["created_at"]),
        created_at=manifest["created_at"],
        annotations=manifest.get("annotations", 0),
        bytes=sum(f["bytes"] for f in manifest_files(manifest, location).values()),
        location=location,
    )


def verify(directory: Path) -> BackupInfo:
    """Check the manifest and every file's size and sha256; BackupError naming what is wrong."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(
            f"backup {directory.name} has no readable manifest ({directory / MANIFEST})",
            hint="it is partial or damaged; restore another one (`roost backups NAME`)",
        ) from None
    for file_name, expected in manifest_files(manifest, f"backup {directory.name}").items():
        path = directory / file_name
        if not path.exists():
            raise BackupError(
                f"backup {directory.name} is missing {file_name}; nothing was restored", hint="restore another backup"
            )
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if path.stat().st_size != expected["bytes"] or digest.hexdigest() != expected["sha256"]:
            raise BackupError(
                f"backup {directory.name} is corrupted: {file_name} does not match its checksum "
                "in the manifest; nothing was restored",
                hint="restore another backup",
            )
    return info_from(manifest, str(directory))


class BackupStore(ABC):
    """One machine's backups in one place."""

    location: str

    @abstractmethod
    def check(self) -> None:
        """Raise BackupError when the store cannot be written (missing bucket, no credentials)."""

    @abstractmethod
    def list(self) -> list[BackupInfo]:
        """The whole backups, oldest first."""

    @abstractmethod
    def has(self, backup_id: str) -> bool:
        """True when a whole backup with this id is stored."""

    @abstractmethod
    def commit(self, staged: Path, backup_id: str) -> str:
        """Keep a verified backup from ``staged`` (consumed); its location."""

    @abstractmethod
    @contextmanager
    def fetched(self, backup_id: str) -> Iterator[Path]:
        """A local directory with the backup's files (verify it before use)."""

    @abstractmethod
    def delete(self, backup_id: str) -> None:
        """Remove one backup."""

    @abstractmethod
    def put_tree(self, local: Path) -> None:
        """Keep a copy of the folder ``local`` here (a job's checkpoint), replacing the last one."""

    @abstractmethod
    def get_tree(self, local: Path) -> bool:
        """Copy the kept folder into ``local`` (made); False when none is kept."""

    def staging(self, backup_id: str) -> Path:
        """An empty local directory to gather a new backup in."""
        staged = inside(roost_home() / "cache" / "backup-staging", backup_id, "backup id", self.location)
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True, mode=0o700)
        return staged


class DirectoryStore(BackupStore):
    """Backups in a local directory, one folder each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def check(self) -> None:
        """The directory can be made and written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackupError(
                f"cannot write backups to {self.root}: {exc.strerror}",
                hint="fix backup_to in the spec, or the directory's permissions",
            ) from None
        if not os.access(self.root, os.W_OK):
            raise BackupError(
                f"cannot write backups to {self.root}: permission denied",
                hint="fix backup_to in the spec, or the directory's permissions",
            )

    def list(self) -> list[BackupInfo]:
        """Every folder with a readable manifest (``.partial`` ones are never listed)."""
        found = []
        for directory in sorted(self.root.glob("*")) if self.root.exists() else []:
            if directory.is_dir() and is_safe_name(directory.name) and not directory.name.endswith(".partial"):
                try:
                    found.append(info_from(json.loads((directory / MANIFEST).read_text()), str(directory)))
                except (OSError, ValueError, KeyError, TypeError, RoostError):
                    continue  # not a whole backup roost wrote
        return found

    def has(self, backup_id: str) -> bool:
        """A folder of that id with its manifest."""
        return (inside(self.root, backup_id, "backup id", self.location) / MANIFEST).exists()

    def staging(self, backup_id: str) -> Path:
        """``<id>.partial`` in the store itself, so keeping it is one rename."""
        self.check()
        staged = inside(self.root, f"{backup_id}.partial", "backup id", self.location)
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(mode=0o700)
        return staged

    def commit(self, staged: Path, backup_id: str) -> str:
        """Rename the verified folder into place."""
        final = inside(self.root, backup_id, "backup id", self.location)
        if staged != final:
            staged.rename(final) if staged.parent == self.root else shutil.move(str(staged), final)
        return str(final)

    @contextmanager
    def fetched(self, backup_id: str) -> Iterator[Path]:
        """The folder itself."""
        directory = inside(self.root, backup_id, "backup id", self.location)
        if not directory.is_dir():
            raise BackupError(f"no backup '{backup_id}' in {self.root}", hint="`roost backups NAME` lists them")
        yield directory

    def delete(self, backup_id: str) -> None:
        """Remove the folder."""
        shutil.rmtree(inside(self.root, backup_id, "backup id", self.location), ignore_errors=True)

    def put_tree(self, local: Path) -> None:
        """A whole copy beside the last, swapped in (a cut copy never replaces a good one)."""
        self.check()
        fresh, old = self.root.with_name(self.root.name + ".incoming"), self.root.with_name(self.root.name + ".old")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(local, fresh, symlinks=True)
        shutil.rmtree(old, ignore_errors=True)
        self.root.rename(old)
        fresh.rename(self.root)
        shutil.rmtree(old, ignore_errors=True)

    def get_tree(self, local: Path) -> bool:
        """The kept copy into ``local``."""
        if not self.root.is_dir() or not any(self.root.iterdir()):
            return False
        shutil.copytree(self.root, local, symlinks=True, dirs_exist_ok=True)
        return True
