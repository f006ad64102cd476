"""Bad input around backups, PostgreSQL and shared domains: one clear message each, nothing
written or started (real moto S3, real SSH test hosts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from roost.backups.stores import store_for
from roost.errors import BackupError, RoostError
from tests.e2e.test_gateway import host_entry, listening

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def roost_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROOST, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def write(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_missing_bucket_and_missing_credentials_are_named(aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.moto.client("s3").create_bucket(Bucket="exists")
    store_for("s3://exists/team", "m").check()  # the bucket is there: no error
    with pytest.raises(BackupError) as missing:
        store_for("s3://no-such-bucket/team", "m").check()
    assert "S3 bucket 'no-such-bucket' (backup_to s3://no-such-bucket/team) does not exist" in str(missing.value)
    assert "aws s3 mb s3://no-such-bucket" in str(missing.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    with pytest.raises(BackupError) as anonymous:
        store_for("s3://exists/team", "m")
    assert "no AWS credentials to reach backup_to s3://exists/team" in str(anonymous.value)
    assert aws.moto.client("s3").list_objects_v2(Bucket="exists").get("KeyCount") == 0


def test_wrong_backup_urls_and_schedules_are_refused_before_anything_starts(roost_home: Path, tmp_path: Path) -> None:
    for url, words in (
        ("ftp://host/backups", "field 'backup_to'"),
        ("file://relative/dir", "is not a backup URL"),
        ("s3:/bucket", "field 'backup_to'"),
    ):
        result = roost_cli("up", str(write(tmp_path, {"name": "ls", "app": "label-studio", "backup_to": url})))
        assert result.returncode == 1 and words in result.stderr, (url, result.stderr)
        assert "Traceback" not in result.stderr
    jupyter = roost_cli("up", str(write(tmp_path, {"name": "nb", "app": "jupyter", "backup": {"every": "1h"}})))
    assert jupyter.returncode == 1 and "scheduled backups are for apps with data" in jupyter.stderr
    often = roost_cli("up", str(write(tmp_path, {"name": "ls", "app": "label-studio", "backup": {"every": "2s"}})))
    assert often.returncode == 1 and "backup.every must be at least 10s" in often.stderr
    assert json.loads(roost_cli("status", "--json").stdout) == []


def test_postgres_missing_where_apt_cannot_install_it(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[2]
    spec = write(
        tmp_path,
        {
            "name": "nopg",
            "backend": "ssh",
            "hosts": [host_entry(host)],
            "app": {"type": "label-studio", "database": "postgres"},
        },
    )
    result = roost_cli("up", str(spec), env={"ROOST_POSTGRES_BINDIRS": "/nonexistent/postgresql/*/bin"})
    assert result.returncode == 1, result.stderr
    assert (
        "database: postgres needs PostgreSQL on 'nopg', which does not have it, and installing it with apt "
        "failed" in result.stderr
    )
    assert "install the Debian/Ubuntu package 'postgresql'" in result.stderr
    machine = testhosts.home_of(host) / ".roost" / "machines" / "nopg"
    assert (machine / "agent").is_dir() and not (machine / "data" / "label-studio" / "postgres").exists()
    assert roost_cli("down", "nopg", "--no-backup").returncode == 0


def test_a_domain_that_does_not_resolve_starts_no_gateway(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[1]
    spec = write(
        tmp_path,
        {
            "name": "dom",
            "backend": "ssh",
            "hosts": [host_entry(host)],
            "share": True,
            "domain": "nowhere-roost-test.invalid",
            "app": {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"},
        },
    )
    result = roost_cli("up", str(spec))
    assert result.returncode == 1
    assert "field 'domain': domain 'nowhere-roost-test.invalid' does not resolve" in result.stderr
    assert f"pointing at {host.ip}" in result.stderr
    assert 443 not in {port for _, port in listening(testhosts, host)}


def test_names_from_a_bucket_or_a_user_never_leave_their_folder(aws, roost_home: Path, tmp_path: Path) -> None:
    """A manifest in S3 naming '../..' files, a prefix named '..', a restore id with a slash:
    each refused before it becomes a path, and nothing is written outside the store's folder."""
    s3 = aws.moto.client("s3")
    s3.create_bucket(Bucket="shared-bucket")
    victim = tmp_path / "victim.txt"
    backup_id = "20260101T000000Z-abcdef"
    evil_name = "../" * 12 + str(victim).lstrip("/")
    manifest = {
        "id": backup_id, "machine": "m", "app": "label-studio", "created_at": 1.0,
        "files": {evil_name: {"sha256": "0" * 64, "bytes": 5}},
    }  # fmt: skip
    s3.put_object(Bucket="shared-bucket", Key=f"team/m/{backup_id}/manifest.json", Body=json.dumps(manifest))
    s3.put_object(Bucket="shared-bucket", Key=f"team/m/{backup_id}/{evil_name}", Body=b"owned")
    s3.put_object(Bucket="shared-bucket", Key="team/m/../manifest.json", Body=json.dumps({**manifest, "id": ".."}))
    store = store_for("s3://shared-bucket/team", "m")
    assert store.list() == []  # neither is a backup roost wrote
    with pytest.raises(BackupError) as refused:
        with store.fetched(backup_id):
            pass
    assert "lists files roost never writes" in str(refused.value) and not victim.exists()
    for bad in ("..", "../m", "a/b", ".hidden", "x\n"):
        with pytest.raises(RoostError) as unsafe:
            with store.fetched(bad):
                pass
        assert "not a plain name" in str(unsafe.value), bad
        with pytest.raises(RoostError):
            with store_for(f"file://{tmp_path}/store", "m").fetched(bad):
                pass
    result = roost_cli("restore", "m", "--from", "../../etc")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
