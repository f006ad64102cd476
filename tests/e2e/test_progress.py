"""Progress on long steps, as a user sees it: on a terminal a live bar with bytes done of all,
rate and time left while a workdir syncs; each finished step one line with what it moved;
``--quiet`` and pipes get those lines only."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SYNCED = re.compile(r"✓ sync workdir and file mounts  [\d.]+s  30\.0 MB at [\d.]+ [kMG]?B/s")


def on_a_terminal(argv: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """Run ``argv`` with its output on a pseudo-terminal (120 columns); its exit code and what it drew."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    drawn, deadline = bytearray(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every writer exited
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    return proc.wait(timeout=max(deadline - time.monotonic(), 1)), drawn.decode("utf-8", errors="replace")


@pytest.fixture
def big_workdir(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "weights.bin").write_bytes(os.urandom(30_000_000))
    spec = tmp_path / "sync.yaml"
    spec.write_text("name: sync\nworkdir: work\nrun: ls work 2>/dev/null; du -b weights.bin\n")
    return spec


def test_a_terminal_shows_bytes_done_of_all_while_a_workdir_syncs(roost_home: Path, big_workdir: Path) -> None:
    code, drawn = on_a_terminal([*ROOST, "run", str(big_workdir), "--down"], big_workdir.parent)
    assert code == 0, drawn
    plain = ANSI.sub("", drawn)
    assert "30000000\tweights.bin" in plain  # the job saw the whole file
    # a frame of the live bar: the step, bytes done of all (the last frame is at 100%)
    assert re.search(r"sync workdir and file mounts .*30\.0 MB/30\.0 MB", plain), plain
    assert SYNCED.search(plain), plain  # and the step's own line when it ends


def test_quiet_and_pipes_get_one_line_per_step(roost_home: Path, big_workdir: Path) -> None:
    code, drawn = on_a_terminal([*ROOST, "--quiet", "run", str(big_workdir), "--down"], big_workdir.parent)
    plain = ANSI.sub("", drawn)
    assert code == 0 and SYNCED.search(plain), plain
    assert "MB/30.0 MB" not in plain  # no live bar
    piped = subprocess.run(
        [*ROOST, "run", str(big_workdir), "--down"], capture_output=True, text=True, timeout=300, cwd=big_workdir.parent
    )
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr and "MB/30.0 MB" not in piped.stderr
    steps = [line for line in piped.stderr.splitlines() if line.startswith("  ✓ ")]
    titles = [re.sub(r"  [\d.]+s.*", "", line) for line in steps]
    assert len(titles) == len(set(titles)) >= 3 and any(SYNCED.search(line) for line in steps), piped.stderr
