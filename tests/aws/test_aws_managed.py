"""A managed job on a spot instance (moto + the fake cloud): the instance is reclaimed
(terminated) mid-job with no CLI running; the server launches a new one, on-demand as the
spec's fallback says after one loss, puts the last checkpoint back and the job resumes; at the
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


def test_a_reclaimed_spot_instance_is_replaced_and_the_job_resumes(
    aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "train.py").write_text(RESUMABLE)
    spec = write_spec(
        tmp_path,
        aws_spec(
            aws,
            "spotjob",
            workdir="job",
            run="python3 train.py",
            outputs=["out"],
            recover=True,
            checkpoint_every="0.5s",
            resources={"spot": {"fallback": "on-demand", "after": 1}},
        ),
    )
    server = Server(roost_home, tmp_path)
    try:
        handed = roost_cli("run", str(spec), "--detach", "--down")
        assert handed.returncode == 0, handed.stderr
        wait_for(lambda: epochs_in(aws_hosts.home_of(aws_hosts.hosts[0])) >= 5, 300, "five epochs on the spot instance")
        [first] = tagged(aws.ec2)["instances"]
        assert lifecycle(aws, first) == "spot"
        aws.ec2.terminate_instances(InstanceIds=[first])  # AWS reclaims the spot instance
        lost_at = time.time()
        ended = wait_for(lambda: [j for j in roost.managed_jobs("spotjob") if j.ended], 300, "the job's end")
    finally:
        server.end()
    job = ended[0]
    assert job.state == "succeeded" and job.exit_code == 0, ((tmp_path / "server.err").read_text()[-3000:], job)
    [moved] = job.recoveries
    assert moved.lost_host == first and moved.host != first
    assert lifecycle(aws, moved.host or "") == "on-demand"  # after one loss, as the spec's fallback says
    print(f"spot reclaimed -> job running again on a new instance (AWS): {moved.at - lost_at:.1f}s")
    history = (Path(job.outputs or "") / "out" / "history").read_text().split()
    assert [int(e) for e in history[::2]] == list(range(1, 15))  # resumed from the checkpoint, nothing twice
    assert roost.status() == []
    assert json.loads(roost_cli("gc", "--json").stdout)["leftovers"] == []
    assert nothing_left(aws.ec2), tagged(aws.ec2)


def lifecycle(aws, instance_id: str) -> str:
    """ "spot" or "on-demand", as EC2 describes the instance."""
    found = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return "spot" if found.get("InstanceLifecycle") == "spot" else "on-demand"
