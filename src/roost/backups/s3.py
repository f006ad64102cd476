"""Backups in S3 (``backup_to: s3://bucket/prefix``): ``prefix/MACHINE/ID/FILE``.

The manifest is uploaded last, so a backup is listed only once every file is there; a
backup is downloaded and verified before it is restored. The bucket and the credentials
are checked before anything is taken, and AWS's refusals become errors naming the URL.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from roost.backends.aws.cloud import client_errors, s3_client
from roost.backups.store import MANIFEST, BackupInfo, BackupStore, backup_id_of, info_from, manifest_files
from roost.errors import BackupError, RoostError
from roost.paths import inside, is_safe_name
from roost.progress import Meter, transfer

T = TypeVar("T")
MISSING_BUCKET = {"NoSuchBucket", "404", "NotFound"}


class S3Store(BackupStore):
    """One machine's backups under ``s3://bucket/prefix/MACHINE/``."""

    def __init__(self, bucket: str, prefix: str, machine: str, url: str) -> None:
        self.bucket, self.url = bucket, url
        self.prefix = f"{prefix}/{machine}/" if prefix else f"{machine}/"
        self.location = f"s3://{bucket}/{self.prefix}"
        client = s3_client()
        if client is None:
            raise BackupError(
                f"no AWS credentials to reach backup_to {url}; nothing was backed up or restored",
                hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "
                "`aws configure` (or use backup_to: file:///a/directory)",
            )
        self.s3 = client
        self.uploaded: dict[str, tuple[int, int]] = {}
        """Per key: (size, mtime) of the file this object last uploaded there (put_tree)."""

    def _call(self, what: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        ClientError, BotoCoreError = client_errors()
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in MISSING_BUCKET and what == "check the bucket":
                raise BackupError(
                    f"S3 bucket '{self.bucket}' (backup_to {self.url}) does not exist; nothing was backed up",
                    hint=f"create it (aws s3 mb s3://{self.bucket}) or fix backup_to in the spec",
                ) from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise BackupError(
                    f"AWS refused access to {self.location} ({code}) while trying to {what}",
                    hint="check the credentials and that they may read and write the bucket",
                ) from None
            raise BackupError(
                f"S3 refused to {what} at {self.location}: {code}: {error.get('Message', exc)}",
                hint="run again, or check backup_to",
            ) from None
        except BotoCoreError as exc:
            raise BackupError(
                f"could not {what} at {self.location}: {exc}",
                hint="check the network and the credentials, then run again",
            ) from None

    def check(self) -> None:
        """The bucket exists and answers to these credentials."""
        self._call("check the bucket", self.s3.head_bucket, Bucket=self.bucket)

    def _ids(self) -> list[str]:
        ids: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(
                "list backups", self.s3.list_objects_v2, Bucket=self.bucket, Prefix=self.prefix, Delimiter="/", **token
            )
            names = [entry["Prefix"][len(self.prefix) :].rstrip("/") for entry in page.get("CommonPrefixes", [])]
            ids += [name for name in names if is_safe_name(name)]  # anything else was not written by roost
            if not page.get("IsTruncated"):
                return sorted(ids)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _keys(self) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list objects", self.s3.list_objects_v2, Bucket=self.bucket, Prefix=self.prefix, **token)
            keys += [entry["Key"] for entry in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _manifest(self, backup_id: str) -> dict[str, Any] | None:
        backup_id_of(backup_id, self.location)
        ClientError, _ = client_errors()
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}{backup_id}/{MANIFEST}")["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # partial: its manifest never arrived
            raise
        try:
            manifest = json.loads(body.read())
        except ValueError:
            return None  # not a manifest roost wrote: never listed, never fetched
        return manifest if isinstance(manifest, dict) else None

    def list(self) -> list[BackupInfo]:
        """Backups whose manifest is there, oldest first."""
        found = []
        for backup_id in self._ids():
            manifest = self._call("read a manifest", self._manifest, backup_id)
            try:
                info = info_from(manifest, f"{self.location}{backup_id}") if manifest else None
            except (KeyError, TypeError, ValueError, RoostError):
                continue  # not a whole backup roost wrote
            if info is not None and info.id == backup_id:
                found.append(info)
        return found

    def has(self, backup_id: str) -> bool:
        """Its manifest is stored."""
        return self._call("read a manifest", self._manifest, backup_id) is not None

    def commit(self, staged: Path, backup_id: str) -> str:
        """Upload the data files, then the manifest; the staging folder is removed."""
        backup_id_of(backup_id, self.location)
        names = sorted(p.name for p in staged.iterdir() if p.is_file() and p.name != MANIFEST) + [MANIFEST]
        for name in names:
            size = (staged / name).stat().st_size
            with transfer(f"upload {name}") as meter:
                self._call(
                    f"upload {name}",
                    self.s3.upload_file,
                    Filename=str(staged / name),
                    Bucket=self.bucket,
                    Key=f"{self.prefix}{backup_id}/{name}",
                    Callback=_counting(meter, size),
                )
        shutil.rmtree(staged, ignore_errors=True)
        return f"{self.location}{backup_id}"

    @contextmanager
    def fetched(self, backup_id: str) -> Iterator[Path]:
        """Download every file the manifest lists into a temporary folder; only the file names
        roost writes are downloaded, each inside that folder."""
        manifest = self._call("read a manifest", self._manifest, backup_id)
        if manifest is None:
            raise BackupError(f"no backup '{backup_id}' in {self.location}", hint="`roost backups NAME` lists them")
        files = manifest_files(manifest, f"{self.location}{backup_id}")
        with tempfile.TemporaryDirectory(prefix="roost-restore-") as temp:
            folder = inside(Path(temp), backup_id, "backup id", self.location)
            folder.mkdir()
            (folder / MANIFEST).write_text(json.dumps(manifest))
            for name, described in files.items():
                target = inside(folder, name, "file name", self.location)
                size = described.get("bytes") if isinstance(described, dict) else None
                with transfer(f"download {name}") as meter:
                    key, known = f"{self.prefix}{backup_id}/{name}", size if isinstance(size, int) else None
                    self._call(f"download {name}", self._download, key, target, _counting(meter, known))
            yield folder

    def _download(self, key: str, target: Path, callback: Callable[[int], None] | None) -> None:
        ClientError, _ = client_errors()
        try:
            self.s3.download_file(Bucket=self.bucket, Key=key, Filename=str(target), Callback=callback)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise  # a missing file is left for verify() to name

    def delete(self, backup_id: str) -> None:
        """Delete every object of the backup (manifest first, so it stops being listed)."""
        backup_id_of(backup_id, self.location)
        keys = [f"{self.prefix}{backup_id}/{MANIFEST}"]
        page = self._call(
            "list a backup", self.s3.list_objects_v2, Bucket=self.bucket, Prefix=f"{self.prefix}{backup_id}/"
        )
        keys += [entry["Key"] for entry in page.get("Contents", []) if not entry["Key"].endswith(MANIFEST)]
        for key in keys:
            self._call("delete a backup", self.s3.delete_object, Bucket=self.bucket, Key=key)

    def put_tree(self, local: Path) -> None:
        """Every file of ``local`` as ``prefix/MACHINE/PATH``: changed ones uploaded (by size and
        time, since this store's last upload), vanished ones deleted."""
        wanted: dict[str, tuple[int, int]] = {}
        for path in sorted(local.rglob("*")):
            if path.is_file() and not path.is_symlink():
                key, stat = self.prefix + path.relative_to(local).as_posix(), path.stat()
                wanted[key] = (stat.st_size, stat.st_mtime_ns)
                if self.uploaded.get(key) != wanted[key]:
                    self._call("upload", self.s3.upload_file, Filename=str(path), Bucket=self.bucket, Key=key)
        for key in set(self._keys()) - set(wanted):
            self._call("delete an old file", self.s3.delete_object, Bucket=self.bucket, Key=key)
        self.uploaded = wanted

    def get_tree(self, local: Path) -> bool:
        """Download every object under the prefix into ``local``; a key that would land outside
        it (``..``, an empty part) is skipped: the names came from a machine."""
        keys = self._keys()
        for key in keys:
            parts = key[len(self.prefix) :].split("/")
            if any(part in ("", ".", "..") or "\\" in part for part in parts):
                continue
            target = local.joinpath(*parts)
            if not target.resolve().is_relative_to(local.resolve()):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            self._call("download", self.s3.download_file, Bucket=self.bucket, Key=key, Filename=str(target))
        return bool(keys)


def _counting(meter: Meter | None, size: int | None) -> Callable[[int], None] | None:
    """boto3's transfer callback (told each chunk's bytes, from its worker threads) as a meter."""
    if meter is None:
        return None
    lock, done = threading.Lock(), [0]
    meter(0, size)

    def chunk(count: int) -> None:
        with lock:
            done[0] += count
            meter(done[0], size)

    return chunk
