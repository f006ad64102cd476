"""`roost status` from the watchers' probes and `roost exec` over a warm connection, answered
without loading the full CLI (typer, pydantic, roost's models), and never wrong for it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import roost
from tests.e2e.test_serve import roost_cli
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def traced(*args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """The CLI's result, and whether it loaded the full CLI (python -X importtime's log)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "roost", *args], capture_output=True, text=True, timeout=300
    )
    full = any(re.search(r"\|\s+(typer|pydantic)$", line) for line in done.stderr.splitlines())
    kept = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, kept), full


def test_status_shows_the_watchers_probes_and_exec_runs_at_once(roost_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "quick.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "quick",
                "backend": "local",
                "app": {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"},
            }
        )
    )
    up = roost.up(spec)
    _, full = traced("status")
    assert full  # nobody has probed it: roost status asks the machine itself

    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen([sys.executable, "-m", "roost", "watch", "--probe-every", "1"], stdout=log, stderr=log)
    log.close()
    try:
        # a watcher's probes: roost status answers from them without the full CLI, the same table
        table = wait_for(lambda: (lambda r: not r[1] and r[0].stdout)(traced("status")), 60, "a quick status")
        assert "quick" in table and "running" in table and up.url in table and "yes" in table
        listed = json.loads(traced("status", "quick", "--json")[0].stdout)
        assert listed[0]["name"] == "quick" and listed[0]["healthy"] and listed[0]["restarts"] == 0

        # what happens on the machine reaches roost status through the watcher's next probe
        os.kill(listed[0]["app_pid"], signal.SIGKILL)
        wait_for(lambda: json.loads(traced("status", "--json")[0].stdout)[0]["restarts"] >= 1, 60, "the restart")

        # exec: the command's output, its errors and its exit code, in the machine's workdir
        ran, full = traced("exec", "quick", "--", "sh", "-c", "echo out; pwd; echo err >&2; exit 3")
        assert not full and ran.returncode == 3
        assert ran.stdout.splitlines() == ["out", str(roost_home / "machines" / "quick" / "workdir")]
        assert ran.stderr.strip() == "err"

        # a change roost makes shows at once, whatever the watcher probed before it
        assert roost_cli("stop", "quick").returncode == 0
        # (from the machine itself, or from a watcher's probe made after the stop: never an earlier one)
        stopped, _ = traced("status", "--json")
        assert json.loads(stopped.stdout)[0]["state"] == "stopped"
        assert roost_cli("down", "quick").returncode == 0
        gone, _ = traced("status")
        assert gone.stdout.strip() == "no machines; `roost up jupyter` makes one"
        assert roost_cli("status", "quick").returncode == 1  # a name roost does not know: the full CLI says so
    finally:
        watcher.terminate()
        watcher.wait(timeout=60)
