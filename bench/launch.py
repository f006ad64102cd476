"""Launch benchmark: `roost up jupyter` on a new local machine against a bare `jupyter lab`.

Each round, interleaved so both see the same machine load:
  roost  - a new ROOST_HOME (machine new, uv cache warm): time from running `roost up
           jupyter` until its URL answers /api (up returns only once it is healthy).
  bare   - a freshly installed venv of the same JupyterLab (installed untimed, with the
           same uv and cache roost uses), started directly as `jupyter-lab` with the same
           options (127.0.0.1, port, hashed password config): time until /api answers.
Both are never-run installs, so neither benefits from bytecode the other lacks.
Prints one line per round, then name=value lines; `launch_ratio` = median roost / median bare.

    python bench/launch.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from uv import find_uv_bin

from roost.apps.jupyter import jupyter_password_hash

VERSION = "4.6.6"
REPO = Path(__file__).resolve().parents[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not answers(url):
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} never answered")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def roost_round(work: Path, index: int) -> float:
    env = {**os.environ, "ROOST_HOME": str(work / f"roost-{index}")}
    roost = [sys.executable, "-m", "roost"]
    started = time.monotonic()
    out = subprocess.run([*roost, "up", "jupyter"], env=env, capture_output=True, text=True, check=True).stdout
    url = out.split(": ", 1)[1].splitlines()[0].removesuffix("/lab") + "/api"
    wait_until(url)
    elapsed = time.monotonic() - started
    subprocess.run([*roost, "down", "jupyter"], env=env, capture_output=True, check=True)
    return elapsed


def bare_round(work: Path, index: int) -> float:
    uv, venv = find_uv_bin(), work / f"bare-{index}"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "-q", "--python", base_python, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--offline", "--python", str(venv / "bin/python"), f"jupyterlab=={VERSION}"],
        check=True,
    )
    # hashed here, as roost does: importing jupyter_server.auth from the venv would compile part
    # of JupyterLab's bytecode before the timed start, and the bare install would not be never-run
    hashed = jupyter_password_hash("bench-password")
    port, config = free_port(), venv / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "ip": "127.0.0.1",
                    "port": port,
                    "port_retries": 0,
                    "open_browser": False,
                    "root_dir": str(work),
                    "allow_root": os.geteuid() == 0,
                },
                "IdentityProvider": {"token": ""},
                "PasswordIdentityProvider": {"hashed_password": hashed, "password_required": True},
                "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
            }
        )
    )
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(venv / "data"),
        "JUPYTER_RUNTIME_DIR": str(venv / "runtime"),
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(venv / "bin/jupyter-lab")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(f"http://127.0.0.1:{port}/api")
        return time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("UV_CACHE_DIR", str(REPO / ".cache" / "uv"))
    work = Path(tempfile.mkdtemp(prefix="roost-bench-"))
    try:
        roost_round(work, -1)  # warm the uv cache; not counted
        roost_times, bare_times = [], []
        for index in range(args.rounds):
            bare_times.append(bare_round(work, index))
            roost_times.append(roost_round(work, index))
            print(f"round {index + 1}: roost {roost_times[-1]:.2f}s  bare {bare_times[-1]:.2f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    roost_median, bare_median = statistics.median(roost_times), statistics.median(bare_times)
    print(f"launch_seconds_roost_median={roost_median:.3f}")
    print(f"launch_seconds_bare_median={bare_median:.3f}")
    print(f"launch_ratio={roost_median / bare_median:.3f}")


if __name__ == "__main__":
    main()
