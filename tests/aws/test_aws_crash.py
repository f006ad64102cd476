"""Crash safety on AWS: roost killed after every step of up and down converges, and gc
finds nothing left; resources whose state was lost are found and deleted by gc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roost.backends.aws.backend import AwsBackend
from roost.machine.steps import CRASH_AFTER_STEP, CRASH_EXIT_CODE
from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec

pytestmark = pytest.mark.e2e
UP_STEPS = [*AwsBackend.UP_STEPS, "provision", "agent-install", "agent-start"]


def test_killed_at_every_step_of_up_and_down_converges(aws, cloud_init, roost_home: Path, tmp_path: Path) -> None:
    for number, up_step in enumerate(UP_STEPS):
        aws.fresh()  # every round's instance at the first test host's address
        spec = write_spec(tmp_path, aws_spec(aws, "crash"))
        crashed = roost_cli("up", str(spec), env={CRASH_AFTER_STEP: up_step})
        assert crashed.returncode == CRASH_EXIT_CODE, (up_step, crashed.stderr)
        # whatever was created so far is recorded: the machine is known, not forgotten
        listed = roost_cli("status", "--json")
        assert [m["name"] for m in json.loads(listed.stdout)] == ["crash"], (up_step, listed.stderr)
        again = roost_cli("up", str(spec))
        assert again.returncode == 0, (up_step, again.stderr)
        made = tagged(aws.ec2)
        assert (len(made["instances"]), len(made["security-groups"]), len(made["key-pairs"])) == (1, 1, 1), up_step

        down_step = AwsBackend.DOWN_STEPS[number % len(AwsBackend.DOWN_STEPS)]
        crashed = roost_cli("down", "crash", env={CRASH_AFTER_STEP: down_step})
        assert crashed.returncode == CRASH_EXIT_CODE, (down_step, crashed.stderr)
        finished = roost_cli("down", "crash")
        assert finished.returncode == 0, (down_step, finished.stderr)
        assert json.loads(roost_cli("gc", "--json").stdout)["leftovers"] == [], (up_step, down_step)
        assert nothing_left(aws.ec2), (up_step, down_step, tagged(aws.ec2))
    assert json.loads(roost_cli("status", "--json").stdout) == []


def test_gc_finds_and_deletes_what_a_lost_state_left_behind(aws, cloud_init, roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "lost"))
    assert roost_cli("up", str(spec)).returncode == 0
    made = tagged(aws.ec2)
    for suffix in ("", "-wal", "-shm"):
        (roost_home / f"state.db{suffix}").unlink(missing_ok=True)  # the state is gone, the machine is not

    listed = json.loads(roost_cli("gc", "--json").stdout)
    kinds = sorted((item["kind"], item["id"]) for item in listed["leftovers"])
    assert kinds == sorted(
        [
            ("instance", made["instances"][0]),
            ("security-group", made["security-groups"][0]),
            ("key-pair", made["key-pairs"][0]),
        ]
    )
    assert not listed["deleted"] and tagged(aws.ec2) == made  # listing deletes nothing

    deleted = roost_cli("gc", "--yes")
    assert deleted.returncode == 0 and "deleted 3 resource(s)" in deleted.stdout
    assert nothing_left(aws.ec2)


def test_gc_leaves_other_owners_and_live_machines_alone(
    aws, cloud_init, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "mine"))
    assert roost_cli("up", str(spec)).returncode == 0
    made = tagged(aws.ec2)
    assert json.loads(roost_cli("gc", "--json").stdout)["leftovers"] == []  # a live machine is not garbage
    monkeypatch.setenv("ROOST_HOME", str(tmp_path / "someone-else"))
    assert json.loads(roost_cli("gc", "--yes", "--json").stdout)["leftovers"] == []
    assert tagged(aws.ec2) == made
    # an owner file with the same user name but no random part of its own: gc refuses to guess
    (tmp_path / "someone-else" / "owner").write_text((roost_home / "owner").read_text().rsplit("-", 1)[0] + "\n")
    refused = roost_cli("gc", "--yes", "--json")
    assert refused.returncode == 1 and "has no random part" in refused.stderr and tagged(aws.ec2) == made
