"""Jupyter on the local backend, for real: password login, restart on crash, stop/start, down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import roost
from tests.helpers import alive, base_of, port_open, wait_for
from tests.jupyter_client import JupyterSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def processes_under(path: Path) -> list[int]:
    """PIDs whose command line mentions ``path`` (the machine's directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline and alive(int(entry)):
                found.append(int(entry))
    return found


def files_containing(root: Path, needle: str, skip: Path) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and skip not in path.parents and path != skip:
            try:
                if needle.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def test_jupyter_lifecycle_on_local_backend(roost_home: Path) -> None:
    # up: the URL answers only with the password
    result = roost.up("jupyter", name="nb")
    assert not result.already_up and result.url.startswith("http://127.0.0.1:")
    base = base_of(result.url)
    password = roost.password("nb")
    assert len(password) >= 20
    assert JupyterSession(base).request("GET", "/api/status")[0] == 403
    assert not JupyterSession(base).login("wrong-" + password)
    session = JupyterSession(base)
    assert session.login(password)

    # the secret is nowhere but the vault: not in state, logs, agent files or config
    vault = roost_home / "secrets" / "nb"
    assert (vault / "jupyter-password").stat().st_mode & 0o777 == 0o600
    assert files_containing(roost_home, password, skip=vault) == []

    # a second up is a no-op that finds it healthy
    [before] = roost.status("nb")
    again = roost.up("jupyter", name="nb")
    assert again.already_up and again.url == result.url
    assert roost.status("nb")[0].app_pid == before.app_pid

    # kill -9 the server: the agent restarts it and the same password works
    os.kill(before.app_pid, signal.SIGKILL)
    restarted = wait_for(
        lambda: (s := roost.status("nb")[0]).healthy and s.app_pid != before.app_pid and s,
        what="jupyter restarted by the agent",
    )
    assert restarted.restarts == 1
    session = JupyterSession(base)
    assert session.login(password)

    # stop: port closed, no process left, workdir files kept
    assert session.save_text("notes.txt", "kept across stop") == 201
    machine_dir = roost_home / "machines" / "nb"
    roost.stop("nb")
    assert not port_open(result.url)
    assert processes_under(machine_dir) == []
    assert (machine_dir / "workdir" / "notes.txt").read_text() == "kept across stop"
    assert roost.status("nb")[0].state.value == "stopped"

    # start: the same app, URL, password and data
    started = roost.start("nb")
    assert started.url == result.url
    session = JupyterSession(base)
    assert session.login(password) and session.read_text("notes.txt") == "kept across stop"

    # down: nothing left
    roost.down("nb")
    assert processes_under(machine_dir) == [] and not machine_dir.exists() and not vault.exists()
    assert roost.status() == [] and not port_open(result.url)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*ROOST, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_ups_make_one_machine_and_cli_reports(roost_home: Path) -> None:
    env = dict(os.environ)
    first, second = (
        run_cli("up", "jupyter", "--name", "dup", env=env),
        run_cli("up", "jupyter", "--name", "dup", env=env),
    )
    outputs = [proc.communicate(timeout=240) for proc in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    stdouts = sorted(out for out, _ in outputs)
    urls = {out.split(": ", 1)[1].splitlines()[0] for out in stdouts}
    assert len(urls) == 1, stdouts
    assert any("is already up" in out for out in stdouts) and any("is up in" in out for out in stdouts)
    # the one that did the work showed each step with its elapsed time
    worker_err = next(err for out, err in outputs if "is up in" in out)
    assert "✓ install jupyterlab" in worker_err and "✓ start jupyter and wait until it answers" in worker_err
    machine_dir = roost_home / "machines" / "dup"
    [machine] = roost.status()
    agents = [p for p in processes_under(machine_dir) if b"roost_agent" in Path(f"/proc/{p}/cmdline").read_bytes()]
    jupyters = [p for p in processes_under(machine_dir) if b"jupyter-lab" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert machine.healthy and len(agents) == 1 and len(jupyters) == 1

    # the rest of the CLI over the same machine
    status = subprocess.run([*ROOST, "status", "--json"], env=env, capture_output=True, text=True, check=True)
    assert '"state": "running"' in status.stdout and '"healthy": true' in status.stdout
    opened = subprocess.run(
        [*ROOST, "open", "dup", "--no-browser"], env=env, capture_output=True, text=True, check=True
    )
    assert urls.pop() in opened.stdout and "roost password dup" in opened.stdout
    logs = subprocess.run([*ROOST, "logs", "dup", "-n", "50"], env=env, capture_output=True, text=True, check=True)
    assert "Jupyter Server" in logs.stdout and roost.password("dup") not in logs.stdout


def test_up_killed_mid_way_resumes_without_redoing_steps(roost_home: Path) -> None:
    env = {**os.environ, "ROOST_CRASH_AFTER_STEP": "jupyter-install"}
    crashed = subprocess.run(
        [*ROOST, "up", "jupyter", "--name", "resume"], env=env, capture_output=True, text=True, timeout=240
    )
    assert crashed.returncode == 97, crashed.stderr
    assert not roost.status("resume")[0].healthy  # the crash left it half-way
    resumed = subprocess.run(
        [*ROOST, "up", "jupyter", "--name", "resume"], env=dict(os.environ), capture_output=True, text=True, timeout=240
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "install jupyterlab 4.6.6  (done before)" in resumed.stderr
    # the config is written beside the install (either side of the crash); the app starts only now
    assert "✓ start jupyter" in resumed.stderr and "is up in" in resumed.stdout
    assert roost.status("resume")[0].healthy
