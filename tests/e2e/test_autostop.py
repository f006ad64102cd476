"""``roost autostop NAME 30m|off``: a running machine's autostop changes at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

import roost
from tests.e2e.test_serve import roost_cli
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def test_autostop_changes_a_running_machines_autostop_at_once(roost_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "idle.yaml"
    spec.write_text(yaml.safe_dump({"name": "idle", "backend": "local"}))
    roost.up(spec)

    bad = roost_cli("autostop", "idle", "soon")
    assert bad.returncode == 1 and "'soon' is not a duration" in bad.stderr and "30m, 2h or 90s" in bad.stderr
    local_down = roost_cli("autostop", "idle", "30m", "--down")
    assert local_down.returncode == 1 and "cloud machines only" in local_down.stderr
    assert roost_cli("autostop", "nobody", "30m").returncode == 1

    def autostop_at() -> float | None:
        return json.loads(roost_cli("status", "idle", "--json").stdout)[0]["autostop_at"]

    set_at = time.time()
    hour = roost_cli("autostop", "idle", "1h")
    assert hour.returncode == 0 and "stopped after 60 minutes idle" in hour.stdout
    assert set_at + 3500 < (autostop_at() or 0) < time.time() + 3700  # counted from now
    assert roost_cli("autostop", "idle", "off").returncode == 0
    assert autostop_at() is None
    assert roost_cli("autostop", "idle", "10s").returncode == 0  # the machine has been idle for longer
    stopped = wait_for(lambda: [m for m in roost.status("idle") if m.state.value == "stopped"], 90, "the autostop")
    assert stopped[0].stopped_by == "autostop"
    assert roost.status("idle")[0].autostop_at is None
