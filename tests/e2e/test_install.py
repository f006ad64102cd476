"""Installing roost like a tool: `uv tool install` from a fresh clone gives a working `roost`;
`make demo` needs no Debian package the demo does not use."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _packages(purpose: str) -> set[str]:
    listed = subprocess.run(["bash", str(REPO / "scripts" / "bootstrap.sh"), purpose, "--list"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return set(listed.stdout.split())


def test_each_purpose_installs_only_what_it_needs() -> None:
    demo, test, bench = _packages("demo"), _packages("test"), _packages("bench")
    assert demo & {"chromium", "postgresql", "wrk", "caddy", "openssh-server"} == set()
    assert {"chromium", "postgresql", "caddy", "openssh-server", "wrk"} <= test  # wrk: test_upstream_counts
    assert test == bench


def test_uv_tool_install_from_a_fresh_clone_then_up_jupyter(tmp_path: Path) -> None:
    from uv import find_uv_bin

    clone = tmp_path / "roost"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    env = {
        **os.environ,
        "UV_TOOL_DIR": str(tmp_path / "tools"),
        "UV_TOOL_BIN_DIR": str(tmp_path / "bin"),
        "ROOST_HOME": str(tmp_path / "home"),
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
    }
    env.pop("VIRTUAL_ENV", None)
    installed = subprocess.run(
        [find_uv_bin(), "tool", "install", "--quiet", "--python", sys.executable, str(clone)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    roost = str(tmp_path / "bin" / "roost")
    try:
        up = subprocess.run([roost, "up", "jupyter"], capture_output=True, text=True, env=env, timeout=900)
        assert up.returncode == 0, up.stderr
        url = up.stdout.split(": ", 1)[1].split()[0]
        with urllib.request.urlopen(url.rsplit("/lab", 1)[0] + "/api", timeout=30) as response:
            assert response.status == 200  # JupyterLab answers
    finally:
        down = subprocess.run([roost, "down", "jupyter"], capture_output=True, text=True, env=env, timeout=300)
    assert down.returncode == 0, down.stderr


def test_pipx_install_from_a_fresh_clone_gives_a_working_roost(tmp_path: Path) -> None:
    from roost.transport.local import base_python

    clone = tmp_path / "roost"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "ROOST_HOME": str(tmp_path / "home"),
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
    }
    env.pop("VIRTUAL_ENV", None)
    installed = subprocess.run(
        ["pipx", "install", "--python", base_python(), str(clone)], capture_output=True, text=True, env=env, timeout=900
    )
    assert installed.returncode == 0, installed.stderr
    roost = str(tmp_path / "bin" / "roost")
    # the packaged price snapshot is there, and a table is whole when piped (no column cut short)
    offers = subprocess.run([roost, "offers", "--gpu", "H100:8"], capture_output=True, text=True, env=env, timeout=60)
    assert offers.returncode == 0, offers.stderr
    assert offers.stdout.splitlines()[1].split()[0] == "p5.48xlarge"  # the cheapest 8 x H100
    assert "8 x H100" in offers.stdout and "…" not in offers.stdout
    status = subprocess.run([roost, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0 and "no machines" in status.stdout, status.stderr
