"""Label Studio on PostgreSQL on a real SSH test host, scheduled backups by the agent shipped into
S3 (moto's S3 API) by `roost watch` alone, the machine killed, the last shipped backup restored
onto a new machine on another test host: every annotation acknowledged before that backup is there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import roost
from roost.apps.label_studio import admin_email
from tests.e2e.test_gateway import host_entry, listening
from tests.label_studio_client import LabelStudioSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]
BUCKET = "team-backups"


def roost_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOST, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def spec_file(tmp_path: Path, name: str, host) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "backend": "ssh",
                "hosts": [host_entry(host)],
                "app": {"type": "label-studio", "database": "postgres"},
                "backup": {"every": "10s", "keep": 2},
                "backup_to": f"s3://{BUCKET}/labelling",
            }
        )
    )
    return path


def test_postgres_scheduled_s3_backups_restore_every_acknowledged_annotation(
    testhosts, aws, roost_home: Path, tmp_path: Path
) -> None:
    s3 = aws.moto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    host, spare_host = testhosts.hosts[1], testhosts.hosts[0]
    up = roost_cli("up", str(spec_file(tmp_path, "pgteam", host)), timeout=1500)
    assert up.returncode == 0, up.stderr
    assert "start PostgreSQL" in up.stderr and "schedule backups every 10s (keep 2)" in up.stderr
    # PostgreSQL listens on no TCP port: only Label Studio, on 127.0.0.1
    assert {port for address, port in listening(testhosts, host) if not address.startswith("0100007F")} == {22}
    # only the machine's user gets in: peer authentication, socket 0700 in a 0700 folder
    hba = next(testhosts.home_of(host).glob("**/postgres/pg_hba.conf"))
    assert hba.read_text() == "local all all peer map=roost\n"
    sockets = next(testhosts.home_of(host).glob("**/run/postgres"))
    assert oct(sockets.stat().st_mode & 0o777) == "0o700"
    assert [oct(p.stat().st_mode & 0o777) for p in sockets.glob(".s.PGSQL.*") if p.is_socket()] == ["0o700"]
    url = roost.status("pgteam")[0].url or ""
    admin = LabelStudioSession(url)
    assert admin.login(admin_email("pgteam"), roost.password("pgteam"))
    project = admin.create_project("on postgres")
    admin.import_tasks(project, [f"item {i}" for i in range(400)])
    tasks = admin.task_ids(project)

    # only `roost watch` runs (no CLI touches the machine): each backup the agent takes on
    # schedule reaches S3 by itself, within its interval and a minute more
    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen([*ROOST, "watch", "--probe-every", "2"], stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the watcher has its own copy
    arrived: dict[str, float] = {}
    acknowledged: list[tuple[float, int, str]] = []
    deadline = time.time() + 300
    try:
        for number, task in enumerate(tasks):
            choice = "pos" if number % 3 else "neg"
            admin.annotate(task, choice)
            acknowledged.append((time.time(), task, choice))
            for backup_id in shipped_ids(s3):
                arrived.setdefault(backup_id, time.time())
            if len(arrived) >= 2 or time.time() > deadline:
                break
        assert len(arrived) >= 2, f"{len(arrived)} scheduled backups in S3 after {len(acknowledged)} annotations"
    except BaseException:
        print((tmp_path / "watch.log").read_text()[-3000:])
        raise
    manifests = {i: manifest(s3, i) for i in arrived}
    delays = sorted(arrived[i] - manifests[i]["created_at"] for i in arrived)
    print(f"scheduled backup -> S3 (roost watch): {', '.join(f'{d:.1f}s' for d in delays)}")
    assert delays[-1] < 10 + 60, delays

    # a folder on the machine named to look like two ids ("<id> ..") is no backup id: the
    # listing comes as JSON, every name is checked, and the client's cache is never touched
    scheduled_dir = next(testhosts.home_of(host).glob("**/backups/scheduled"))
    real = next(p for p in scheduled_dir.iterdir() if (p / "manifest.json").exists())
    bogus = scheduled_dir / f"{real.name} .."
    shutil.copytree(real, bogus)
    for path in [bogus, *bogus.iterdir()]:
        os.chown(path, real.stat().st_uid, real.stat().st_gid)
    marker = roost_home / "cache" / "keep-me"
    marker.write_text("still here")
    schedule = roost.status("pgteam")[0]
    listed = roost_cli("backups", "pgteam", "--json")
    assert listed.returncode == 0, listed.stderr
    assert marker.read_text() == "still here"
    found = json.loads(listed.stdout)
    assert all(" " not in b["id"] and b["id"] != ".." for b in found), found
    scheduled = [b for b in found if b["kind"] == "scheduled"]
    assert len(scheduled) == 2 and all(b["database"] == "postgres" for b in scheduled), (found, schedule)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="labelling/pgteam/")["Contents"]]
    assert f"labelling/pgteam/{scheduled[-1]['id']}/database.pgdump" in keys
    assert not any(" " in key or "/../" in key for key in keys), keys

    # the machine dies (every process of its host killed): its last shipped backup is what is left
    watcher.terminate()
    assert watcher.wait(timeout=60) == 0, (tmp_path / "watch.log").read_text()[-3000:]
    testhosts.stop(host.index)
    last = max((manifest(s3, i) for i in shipped_ids(s3)), key=lambda b: b["created_at"])

    # onto a new machine on another test host, made from a spec by the restore itself
    restored = roost_cli(
        "restore",
        "pgspare",
        "--of",
        "pgteam",
        "--from",
        last["id"],
        "--spec",
        str(spec_file(tmp_path, "pgspare", spare_host)),
        timeout=1500,
    )
    assert restored.returncode == 0, restored.stderr
    assert re.search(r"✓ download database\.pgdump  [\d.]+s  [\d.]+ [kM]B at", restored.stderr), restored.stderr
    spare = LabelStudioSession(roost.status("pgspare")[0].url or "")
    assert spare.login(admin_email("pgspare"), roost.password("pgspare"))
    before = {
        task: [choice] for stamp, task, choice in acknowledged if stamp < last.get("started_at", last["created_at"])
    }
    assert len(before) >= 5
    got = {task: spare.annotations(task) for task in tasks}
    assert {task: got[task] for task in before} == before  # every acknowledged one, with its content
    assert sum(len(v) for v in got.values()) == last["annotations"] >= len(before)

    # one flipped byte in S3: refused before anything changes
    key = f"labelling/pgteam/{last['id']}/database.pgdump"
    blob = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    blob[len(blob) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(blob))
    refused = roost_cli("restore", "pgspare", "--of", "pgteam", "--from", last["id"], "--force")
    assert refused.returncode == 1
    assert f"backup {last['id']} is corrupted: database.pgdump does not match its checksum" in refused.stderr
    assert {task: spare.annotations(task) for task in before} == before
    roost.down("pgspare", no_backup=True)
    testhosts.start(host.index)
    roost.down("pgteam", no_backup=True)


def shipped_ids(s3) -> list[str]:
    """The ids of pgteam's scheduled backups whose manifest is in S3 (a backup's last object)."""
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="labelling/pgteam/").get("Contents", [])
    return [o["Key"].split("/")[2] for o in listing if o["Key"].endswith("/manifest.json")]


def manifest(s3, backup_id: str) -> dict:
    body = s3.get_object(Bucket=BUCKET, Key=f"labelling/pgteam/{backup_id}/manifest.json")["Body"].read()
    return json.loads(body)
