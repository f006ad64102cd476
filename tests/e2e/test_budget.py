"""Budgets the machine's agent enforces by itself, and the notifications it sends (apprise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import roost
from tests.e2e.test_serve import roost_cli
from tests.helpers import wait_for
from tests.hook_receiver import HookReceiver

pytestmark = pytest.mark.e2e

TOKEN = "hook-token-7f3a9c"  # stands for a webhook's secret: it must never leave the notify file


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    receiver = HookReceiver()
    yield receiver
    receiver.close()


def test_a_machine_stops_itself_at_its_budget_and_says_so_once(
    roost_home: Path, tmp_path: Path, hook: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOST_TEST_HOOK", f"json://roost:{TOKEN}@127.0.0.1:{hook.port}/hook")
    spec = tmp_path / "capped.yaml"
    # $2/s: the $20 cap comes 10 s after the agent starts, the warning at $16
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "capped",
                "backend": "local",
                "resources": {"price_per_hour": 7200},
                "budget": {"max_usd": 20},
                "notify": ["$ROOST_TEST_HOOK"],
                "app": {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"},
            }
        )
    )
    up = roost_cli("up", str(spec))
    assert up.returncode == 0, up.stderr
    assert "start agent with its budget ($20)" in up.stdout + up.stderr

    stopped = wait_for(
        lambda: [m for m in roost.status("capped") if m.state.value == "stopped"], 60, "the budget's stop"
    )
    assert stopped[0].stopped_by == "budget"
    warning = wait_for(lambda: hook.titled("budget warning"), 30, "the warning")
    reached = wait_for(lambda: hook.titled("budget reached"), 30, "the cap's notification")
    assert "capped" in warning[0]["title"] and "of its $20.00 budget" in warning[0]["message"]
    assert "stopping it" in reached[0]["message"]
    # once each: the agent has exited, so nothing more can come
    assert len(hook.titled("budget warning")) == 1 and len(hook.titled("budget reached")) == 1
    assert all(TOKEN not in str(r) for r in hook.received)
    for path in roost_home.rglob("*"):
        if path.is_file() and path.name != "notify-urls":
            assert TOKEN.encode() not in path.read_bytes(), path

    cost = roost_cli("cost")
    assert cost.returncode == 0
    row = next(line for line in cost.stdout.splitlines() if line.strip().startswith("capped"))
    spent = float(row.split()[-1])
    # spend as the agent metered it: the cap, plus at $2/s the tick (1-2 s) and the stop that followed
    assert "7200" in row and 20.0 <= spent <= 26.0, row


def test_notify_and_budget_bad_input_is_refused_before_anything_is_made(
    roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"name": "loud", "backend": "local", "notify": ["nosuch://somewhere/x"]}))
    bad = roost_cli("up", str(spec))
    assert bad.returncode == 1
    assert "apprise cannot use the notify target nosuch://…" in bad.stderr and "notify[0]" in bad.stderr
    monkeypatch.delenv("ROOST_NO_HOOK", raising=False)
    spec.write_text(yaml.safe_dump({"name": "loud", "backend": "local", "notify": ["$ROOST_NO_HOOK"]}))
    unset = roost_cli("up", str(spec))
    assert unset.returncode == 1 and "$ROOST_NO_HOOK is not set" in unset.stderr
    spec.write_text(
        yaml.safe_dump({"name": "rented", "backend": "ssh", "hosts": ["gpu-box"], "budget": {"max_usd": 5}})
    )
    unpriced = roost_cli("up", str(spec))
    assert unpriced.returncode == 1 and "resources.price_per_hour" in unpriced.stderr
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "labels",
                "backend": "local",
                "app": "label-studio",
                "resources": {"price_per_hour": 1},
                "budget": {"max_usd": 5, "then": "down"},
            }
        )
    )
    data = roost_cli("up", str(spec))
    assert data.returncode == 1 and "field 'budget.then'" in data.stderr and "delete label-studio's data" in data.stderr
    assert roost.status() == []


def test_notify_targets_in_roosts_config_reach_every_machine(roost_home: Path, tmp_path: Path) -> None:
    from roost.errors import SpecError
    from roost.notify.targets import resolve

    path = tmp_path / "quiet.yaml"
    path.write_text(yaml.safe_dump({"name": "quiet", "backend": "local", "notify": ["json://127.0.0.1:9/own"]}))
    roost_home.mkdir(parents=True, exist_ok=True)
    (roost_home / "config.yaml").write_text(yaml.safe_dump({"notify": ["json://127.0.0.1:9/everyone"]}))
    assert resolve(roost.load_spec(path)) == ["json://127.0.0.1:9/own", "json://127.0.0.1:9/everyone"]
    (roost_home / "config.yaml").write_text("notify: json://not-a-list\n")
    with pytest.raises(SpecError) as refused:
        resolve(roost.load_spec(path))
    assert refused.value.file == str(roost_home / "config.yaml") and refused.value.field == "notify"


def test_then_down_takes_the_machine_down_once_a_watcher_sees_it_stopped(
    roost_home: Path, tmp_path: Path, hook: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("ROOST_TEST_HOOK", f"json://127.0.0.1:{hook.port}/hook")
    spec = tmp_path / "brief.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "brief",
                "backend": "local",
                "resources": {"price_per_hour": 7200},
                "budget": {"max_usd": 10, "then": "down"},
                "notify": ["$ROOST_TEST_HOOK"],
            }
        )
    )
    assert roost_cli("up", str(spec)).returncode == 0
    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen([sys.executable, "-m", "roost", "watch", "--probe-every", "1"], stdout=log, stderr=log)
    log.close()  # the watcher has its own copy
    try:
        wait_for(lambda: roost.status() == [], 60, "the machine to be taken down")
    finally:
        watcher.terminate()
        watcher.wait(timeout=60)
    reached = wait_for(lambda: hook.titled("budget reached"), 30, "the cap's notification")
    assert "taking it down" in reached[0]["message"]
    assert not (roost_home / "machines" / "brief").exists()
