"""Label Studio for real (from PyPI) on the local backend: admin made by roost, sign-up closed,
127.0.0.1 only, the REST API usable after login; backups that restore and refuse corruption."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import roost
from roost.apps.label_studio import admin_email
from tests.label_studio_client import LabelStudioSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def test_label_studio_with_a_generated_admin_and_no_open_sign_up(roost_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "ls.yaml"  # backups go where nothing can be written: stop warns and goes on
    spec.write_text("name: ls\napp: label-studio\nbackup_to: file:///proc/roost-no-backups\n")
    run = subprocess.run([*ROOST, "up", str(spec)], capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    url = run.stdout.split(": ", 1)[1].splitlines()[0]
    assert url.startswith("http://127.0.0.1:") and admin_email("ls") in run.stdout
    password = roost.password("ls")
    assert password not in run.stdout + run.stderr

    # the admin logs in and uses the API; a wrong password does not
    assert not LabelStudioSession(url).login(admin_email("ls"), "wrong")
    admin = LabelStudioSession(url)
    assert admin.login(admin_email("ls"), password)
    project = admin.create_project("sentiment")
    admin.import_tasks(project, ["good", "bad", "fine"])
    tasks = admin.task_ids(project)
    admin.annotate(tasks[0], "pos")
    assert len(tasks) == 3 and admin.annotations(tasks[0]) == ["pos"]

    # nobody signs up without an invitation
    stranger = LabelStudioSession(url)
    stranger.request("GET", "/user/signup/")
    status, _ = stranger.request(
        "POST",
        "/user/signup/",
        form={"email": "eve@example.org", "password": "pw12345678", "csrfmiddlewaretoken": stranger._csrf()},
    )
    assert status == 403 and not LabelStudioSession(url).login("eve@example.org", "pw12345678")

    # the password is in the vault only: not in roost's state, logs or the machine's files
    for path in roost_home.rglob("*"):
        if path.is_file() and "secrets" not in path.parts and path.stat().st_size < 50_000_000:
            assert password.encode() not in path.read_bytes(), path
    # the data lives on the machine's data path and survives stop/start
    failed = subprocess.run([*ROOST, "backup", "ls"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert failed.returncode == 1 and "cannot write backups to /proc/roost-no-backups/ls" in failed.stderr
    stopped = subprocess.run([*ROOST, "stop", "ls"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert stopped.returncode == 0 and "warning: the backup before stop failed" in stopped.stderr
    refused = subprocess.run([*ROOST, "down", "ls"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert refused.returncode == 1 and "'ls' is stopped, so no backup could be taken" in refused.stderr
    roost.start("ls")
    again = LabelStudioSession(url)
    assert again.login(admin_email("ls"), password) and again.annotations(tasks[0]) == ["pos"]


def test_backups_restore_onto_another_machine_and_refuse_corruption(roost_home: Path, tmp_path: Path) -> None:
    from roost.spec.model import Spec

    spec = Spec.model_validate({"name": "team", "app": "label-studio", "backup": {"every": "10s", "keep": 5}})
    up = roost.up(spec)
    admin = LabelStudioSession(up.url)
    assert admin.login(admin_email("team"), roost.password("team"))
    project = admin.create_project("backed up")
    admin.import_tasks(project, [f"text {i}" for i in range(40)])
    tasks = admin.task_ids(project)
    acknowledged = []
    for number, task in enumerate(tasks[:30]):  # annotations while backups are taken (scheduled and by hand)
        admin.annotate(task, "pos" if number % 2 else "neg")
        acknowledged.append(time.time())
        time.sleep(0.4)
        if number == 14:
            first = subprocess.run(
                [*ROOST, "backup", "team"], capture_output=True, text=True, timeout=600, env=dict(os.environ)
            )
            assert first.returncode == 0 and "15 annotations" in first.stdout, first.stderr
            # the copy from the machine says what it moved (one line: stderr is no terminal here)
            assert re.search(r"✓ download \S+  [\d.]+s  [\d.]+ [kM]B at [\d.]+ [kMG]?B/s", first.stderr), first.stderr
    last = roost.backup("team")
    assert last.annotations == 30
    listed = subprocess.run(
        [*ROOST, "backups", "team", "--json"], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    found = __import__("json").loads(listed.stdout)
    assert [b["annotations"] for b in found if b["kind"] == "manual"] == [15, 30]
    scheduled = [b for b in found if b["kind"] == "scheduled"]  # taken by the agent, collected by `backups`
    assert scheduled and all(b["database"] == "sqlite" for b in scheduled), found
    for taken in scheduled:  # each holds at least every annotation acknowledged before it started
        assert taken["annotations"] >= sum(1 for stamp in acknowledged if stamp < taken["started_at"])

    # the machine stops; restore on another machine: every annotation acknowledged before the backup is there
    assert roost.stop("team").warnings == []
    spare_up = roost.up("label-studio", name="spare")  # from the host's migrated template: no user of team's
    assert not LabelStudioSession(spare_up.url).login(admin_email("team"), roost.password("team"))
    restored = subprocess.run(
        [*ROOST, "restore", "spare", "--of", "team", "--from", last.id],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )
    assert restored.returncode == 1 and "has data changed at" in restored.stderr  # a fresh machine is newer
    assert "--force" in restored.stderr
    roost.restore("spare", last.id, source="team", force=True)
    spare = LabelStudioSession(roost.status("spare")[0].url or "")
    assert spare.login(admin_email("spare"), roost.password("spare"))
    expected = {task: ["pos" if n % 2 else "neg"] for n, task in enumerate(tasks[:30])}
    assert {task: spare.annotations(task) for task in tasks[:30]} == expected
    assert all(spare.annotations(task) == [] for task in tasks[30:])

    # one flipped byte: refused, with a clear message, and nothing changed
    copy = tmp_path / "damaged"
    damaged_id = last.id + "-damaged"
    store = Path(last.location).parent
    __import__("shutil").copytree(last.location, store / damaged_id)
    target = store / damaged_id / "database.sqlite3.gz"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    target.write_bytes(bytes(blob))
    refused = subprocess.run(
        [*ROOST, "restore", "spare", "--of", "team", "--from", damaged_id, "--force"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert refused.returncode == 1
    assert f"backup {damaged_id} is corrupted: database.sqlite3.gz does not match its checksum" in refused.stderr
    assert {task: spare.annotations(task) for task in tasks[:30]} == expected
    assert not copy.exists()

    # down backs up first
    roost.start("team")
    before = {b.id for b in roost.list_backups("team")}
    roost.down("team")
    from roost.backups.store import DirectoryStore

    after = DirectoryStore(roost_home / "backups" / "team").list()
    added = [b for b in after if b.id not in before]  # the agent's schedule may add one meanwhile: every 10s
    assert [b.kind for b in added if b.kind != "scheduled"] == ["before-down"], added
    assert after[-1].kind == "before-down" and after[-1].annotations == 30
