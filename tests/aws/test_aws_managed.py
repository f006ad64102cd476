"""A managed job on a spot instance (moto + the fake cloud), with no CLI running: EC2's
interruption notice reaches the job (SIGTERM) and the server copies its last checkpoint off;
the instance is reclaimed (terminated); the server launches a new one, on-demand as the spec's
fallback says after one loss, puts the checkpoint back and the job resumes where it was; at the
end the machine goes down and gc finds nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import roost
from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec
from tests.e2e.test_managed_jobs import RESUMABLE, epochs_in
from tests.e2e.test_server import Server
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def forget_epochs(hosts) -> None:
    """No history from an earlier test's instances counts as this one's."""
    for host in hosts.hosts:
        for old in hosts.home_of(host).glob(".roost/machines/*/checkpoints/history"):
            old.unlink()


def instance_and_home(aws, hosts) -> tuple[str, Path]:
    """The machine's instance once it runs, and the home of the test host playing it."""
    [instance] = wait_for(lambda: tagged(aws.ec2)["instances"], 300, "the instance")
    found = aws.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    host = next(h for h in hosts.hosts if h.ip == found["PrivateIpAddress"])
    return instance, hosts.home_of(host)


def lifecycle(aws, instance_id: str) -> str:
    """ "spot" or "on-demand", as EC2 describes the instance."""
    found = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return "spot" if found.get("InstanceLifecycle") == "spot" else "on-demand"


def test_a_spot_instance_is_noticed_reclaimed_and_replaced_on_demand(
    aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "job").mkdir()
    on_signal = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(143))\n"
    # slower epochs: the agent looks for the notice every housekeeping round, the relay every 5 s
    (tmp_path / "job" / "train.py").write_text(on_signal + RESUMABLE.replace("time.sleep(0.6)", "time.sleep(1.5)"))
    spec = write_spec(
        tmp_path,
        aws_spec(
            aws,
            "spotjob",
            workdir="job",
            run="python3 train.py",
            outputs=["out"],
            recover=True,
            checkpoint_every="30s",  # rarely: the checkpoint that matters is the one taken on the notice
            resources={"spot": {"fallback": "on-demand", "after": 1}},
        ),
    )
    forget_epochs(aws_hosts)
    server = Server(roost_home, tmp_path)
    try:
        assert roost_cli("run", str(spec), "--detach", "--down").returncode == 0
        first, first_home = instance_and_home(aws, aws_hosts)
        wait_for(lambda: epochs_in(first_home) >= 5, 300, "five epochs on the spot instance")
        assert lifecycle(aws, first) == "spot"
        cloud_init.interrupt(first)  # EC2's two-minute notice
        noticed_at = time.time()
        noticed = wait_for(
            lambda: [j for j in roost.managed_jobs("spotjob") if j.final_checkpoint], 60, "the last checkpoint"
        )
        saved_there = (next(first_home.glob(".roost/machines/*/checkpoints/history"))).read_text().split()
        wait_for(lambda: kinds_of_events("spotjob") >= {"spot interruption"}, 30, "the agent's event")
        aws.ec2.terminate_instances(InstanceIds=[first])  # the reclaim
        lost_at = time.time()
        ended = wait_for(lambda: [j for j in roost.managed_jobs("spotjob") if j.settled], 300, "the job's end")
    finally:
        server.end()
    job = ended[0]
    assert job.state == "succeeded" and job.exit_code == 0, ((tmp_path / "server.err").read_text()[-3000:], job)
    [moved] = job.recoveries
    assert noticed[0].interrupted_at is not None and moved.lost_host == first and moved.host != first
    assert lifecycle(aws, moved.host or "") == "on-demand"  # after one loss, as the spec's fallback says
    print(f"interruption notice -> last checkpoint copied off: {(noticed[0].checkpoint_at or 0) - noticed_at:.1f}s")
    print(f"spot reclaimed -> job running again on a new instance (AWS): {moved.at - lost_at:.1f}s")
    history = (Path(job.outputs or "") / "out" / "history").read_text().split()
    assert [int(e) for e in history[::2]] == list(range(1, 15))  # resumed from the checkpoint, nothing twice
    # every epoch the first instance finished before the signal came along: none redone, none lost
    assert history[: len(saved_there)] == saved_there and len(saved_there) >= 10
    assert roost.status() == []
    assert json.loads(roost_cli("gc", "--json").stdout)["leftovers"] == []
    assert nothing_left(aws.ec2), tagged(aws.ec2)


def kinds_of_events(machine: str) -> set[str]:
    from roost.machine import journal
    from roost.machine.state import State

    state = State()
    try:
        return {event.kind for event in journal.events(state, machine)}
    finally:
        state.close()
