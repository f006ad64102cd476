"""Label Studio for real (from PyPI) on the local backend: admin made by roost, sign-up closed,
127.0.0.1 only, the REST API usable after login; backups that restore and refuse corruption."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import roost
from roost.apps.label_studio import admin_email
from tests.label_studio_client import LabelStudioSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def test_label_studio_with_a_generated_admin_and_no_open_sign_up(roost_home: Path) -> None:
    run = subprocess.run([*ROOST, "up", "label-studio", "--name", "ls"], capture_output=True, text=True,
                         timeout=900, env=dict(os.environ))
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
    status, _ = stranger.request("POST", "/user/signup/", form={"email": "eve@example.org", "password": "pw12345678",
                                                              "csrfmiddlewaretoken": stranger._csrf()})
    assert status == 403 and not LabelStudioSession(url).login("eve@example.org", "pw12345678")

    # the password is in the vault only: not in roost's state, logs or the machine's files
    for path in roost_home.rglob("*"):
        if path.is_file() and "secrets" not in path.parts and path.stat().st_size < 50_000_000:
            assert password.encode() not in path.read_bytes(), path
    # the data lives on the machine's data path and survives stop/start
    roost.stop("ls")
    roost.start("ls")
    again = LabelStudioSession(url)
    assert again.login(admin_email("ls"), password) and again.annotations(tasks[0]) == ["pos"]
