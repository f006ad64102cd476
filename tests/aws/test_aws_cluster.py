"""Clusters on AWS (moto + the fake cloud, security groups enforced with nftables): a multi-node
job's nodes, and a service's gateway and worker instances, reach each other on any port at
their private addresses; nobody else gets past SSH; at the end nothing is left, not even the
cluster's group."""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost
from tests.aws.helpers import ROOST, aws_spec, nothing_left, roost_cli, write_spec
from tests.e2e.test_serve import REPLICA
from tests.harness.streamed import Streamed

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

NODE = """
import os, socket, sys, time
rank, master = int(os.environ["ROOST_NODE_RANK"]), os.environ["MASTER_ADDR"]
port = int(os.environ["MASTER_PORT"])
if rank == 0:
    server = socket.create_server(("0.0.0.0", port))
    server.settimeout(120)
    peer, (address, _) = server.accept()
    print(f"rank 0 heard {peer.recv(100).decode()!r} from {address} on {port}", flush=True)
    deadline = time.time() + 120
    while not os.path.exists("release") and time.time() < deadline:  # the test looks from outside meanwhile
        time.sleep(0.2)
    print("rank 0 released", flush=True)
else:
    deadline = time.time() + 120
    while True:
        try:
            with socket.create_connection((master, port), timeout=5) as link:
                link.sendall(f"hello from rank {rank} at {os.environ['ROOST_NODE_IPS']}".encode())
            break
        except OSError:
            if time.time() > deadline:
                sys.exit(f"rank {rank} never reached {master}:{port}")
            time.sleep(0.5)
    print(f"rank {rank} reached {master}:{port}", flush=True)
"""


def answers(address: str, port: int) -> bool:
    """A TCP connection from this computer (the caller) to ``address:port`` is accepted."""
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def test_two_nodes_are_one_cluster_that_only_ssh_from_the_caller_gets_into(
    aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "node.py").write_text(NODE)
    spec = write_spec(
        tmp_path,
        aws_spec(aws, "pair", num_nodes=2, workdir="job", run="python3 node.py", resources={"placement": "cluster"}),
    )
    job = Streamed([*ROOST, "run", str(spec), "--down"], env=dict(os.environ))
    try:
        heard = job.wait_for_line(lambda line: "rank 0 heard" in line, timeout=600)
        found = re.search(r"'hello from rank 1 at ([\d.]+),([\d.]+)' from ([\d.]+) on (\d+)", heard)
        assert found, heard
        master, node1, sender, port = found[1], found[2], found[3], int(found[4])
        # rank 1 reached rank 0's MASTER_PORT from its private address: the cluster's group let it in
        assert {master, node1} == {host.ip for host in aws_hosts.hosts} and sender == node1
        # from outside the cluster (this computer, the caller): SSH answers, the job's port does not
        assert answers(master, 22) and not answers(master, port)
        # both nodes were launched into the cluster's one placement group (strategy cluster)
        groups = aws.ec2.describe_placement_groups(Filters=[{"Name": "tag-key", "Values": ["roost:owner"]}])
        assert [g["Strategy"] for g in groups["PlacementGroups"]] == ["cluster"]
        placed = aws.moto.placement_groups.members
        assert [len(members) for members in placed.values()] == [2]
        # while the nodes run, `roost gc` counts the cluster's groups as theirs, not as leftovers
        assert json.loads(roost_cli("gc", "--json").stdout)["leftovers"] == []
        released = roost_cli("exec", "pair-0", "--", "touch", "release")
        assert released.returncode == 0, released.stderr
        assert job.finish(timeout=600) == 0, job.err[-3000:]
    finally:
        job.stop()
    assert "[node 0] rank 0 released\n" in job.lines, job.out
    assert f"[node 1] rank 1 reached {master}:{port}\n" in job.lines, job.out
    assert nothing_left(aws.ec2)  # the nodes, their groups, the cluster's group and placement group


def test_the_torchrun_example_all_reduces_on_two_instances(
    aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path
) -> None:
    """examples/multinode as it is (backend aws, torchrun, gloo on CPU) on two instances that
    reach each other only through the cluster's group, placed in one placement group; torch
    travels to the air-gapped hosts as a wheelhouse; nothing is left after --down."""
    example = REPO / "examples" / "multinode"
    data = yaml.safe_load((example / "multinode.yaml").read_text())
    assert data["backend"] == "aws" and "torchrun" in data["run"] and data["num_nodes"] == 2
    data.update(aws_spec(aws, data["name"]), workdir=str(example), installs="wheelhouse")
    data["resources"] = {**data.get("resources", {}), "placement": "cluster"}
    result = roost_cli("run", str(write_spec(tmp_path, data)), "--down", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[node 0] rank 0 of 2: sum 3.0" in result.stdout
    assert "[node 1] rank 1 of 2: sum 3.0" in result.stdout
    assert [len(members) for members in aws.moto.placement_groups.members.values()] == [2]
    assert nothing_left(aws.ec2) and roost.status() == []


def test_a_service_spread_over_two_instances_answers_from_both(
    aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "site"
    work.mkdir()
    (work / "replica.py").write_text(REPLICA.read_text())
    spec = aws_spec(
        aws,
        "spread",
        workdir=str(work),
        app={"type": "command", "command": "python3 replica.py {port} v1 {host}:{port}"},
        service={"replicas": 2, "machines": 2, "probe": {"interval": "1s", "timeout": "1s"}},
    )
    up = roost_cli("serve", str(write_spec(tmp_path, spec)), timeout=900)
    assert up.returncode == 0, up.stderr
    url = up.stdout.split("serving at ", 1)[1].split()[0]
    replicas = roost.serve_status("spread").replicas
    assert sorted(r.machine for r in replicas) == ["spread", "spread-w1"] and all(r.healthy for r in replicas)
    # the gateway instance reaches the worker's replica (SSH on its private address, let in by
    # the service's cluster group): requests through the gateway are answered by both instances
    hosts: set[str] = set()
    deadline = time.monotonic() + 60
    while len(hosts) < 2 and time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as response:
            hosts.add(response.read().decode().split(":")[0])
    assert hosts == {host.name for host in aws_hosts.hosts}, hosts
    down = roost_cli("down", "spread")
    assert down.returncode == 0, down.stderr
    assert nothing_left(aws.ec2) and roost.status() == []
