"""AWS from nothing: moto for the API, test hosts at the instances' private addresses."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

import roost
from roost.catalog.offers import OfferQuery, load_offers
from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec
from tests.helpers import AWS_NET
from tests.jupyter_client import JupyterSession

pytestmark = pytest.mark.e2e


def brute_force_cheapest(query: OfferQuery) -> str:
    fitting = [o for o in load_offers(query.region) if query.matches(o)]
    return min(fitting, key=lambda o: (o.hourly(query.spot), o.instance_type)).instance_type


def the_instance(ec2) -> dict:
    found = [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    assert len(found) == 1, found
    return found[0]


def test_jupyter_on_ec2_from_nothing_to_nothing(aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "nb", app="jupyter", resources={"cpus": 2, "memory": 4}))
    run = roost_cli("up", str(spec))
    assert run.returncode == 0, run.stderr
    url = run.stdout.split(": ", 1)[1].splitlines()[0]
    assert url.startswith("http://127.0.0.1:")  # through an SSH tunnel, never the instance's address

    # the cheapest offer that fits, the image from the (injected) Ubuntu parameter, private address
    instance = the_instance(aws.ec2)
    # (a Graviton type: its image is the arm64 one; the test host itself is x86_64)
    assert instance["InstanceType"] == brute_force_cheapest(OfferQuery(cpus=2, memory_gib=4)) == "t4g.medium"
    assert instance["ImageId"] == aws.images["arm64"] and instance["PrivateIpAddress"] == aws_hosts.hosts[0].ip
    assert "t4g.medium: 2 vCPUs, 4 GiB, $0.0336/h" in run.stderr

    # the security group: exactly SSH from this computer's address on the subnet, nothing else
    group_ids = [g["GroupId"] for g in instance["NetworkInterfaces"][0]["Groups"]]
    assert group_ids == tagged(aws.ec2)["security-groups"]
    group = aws.ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"][0]
    rules = [
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", [])
    ]
    assert rules == [("tcp", 22, 22, f"{AWS_NET}.1/32")]
    # tags on everything; the login key is 0600 and only its public half went to AWS
    made = tagged(aws.ec2)
    assert len(made["instances"]) == 1 and len(made["security-groups"]) == 1 and len(made["key-pairs"]) == 1
    volumes = aws.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    assert [(v["Size"], v["Encrypted"]) for v in volumes] == [(50, True)]  # resources.disk_gb
    assert instance["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["roost:machine"] == "nb" and tags["roost:owner"] == (roost_home / "owner").read_text().strip()
    assert stat.S_IMODE((roost_home / "keys" / "nb").stat().st_mode) == 0o600
    # the host key from user-data verified the first contact; then roost pinned the key the
    # machine made itself, so the copy readable in user-data opens nothing any more
    host = aws_hosts.hosts[0]
    own = (aws_hosts.directory / f"h{host.index}" / "ssh" / "ssh_host_ecdsa_key.pub").read_text().split()[:2]
    pinned = [line.split() for line in (roost_home / "known_hosts").read_text().splitlines()]
    assert [words for words in pinned if words[0] == "roost-aws-nb"] == [["roost-aws-nb", *own]]
    # the instance metadata service answers root only
    imds = aws_hosts.root(host.index, "nft list table inet roost_imds")
    assert "ip daddr 169.254.169.254 meta skuid != 0 reject" in imds.stdout, imds.stderr

    password = roost.password("nb")
    session = JupyterSession(url.rsplit("/lab", 1)[0])
    assert session.request("GET", "/api/status")[0] == 403 and session.login(password)
    assert session.save_text("kept.txt", "survives stop and start") == 201

    # up twice creates nothing new
    again = roost_cli("up", str(spec))
    assert again.returncode == 0 and "already up" in again.stdout + again.stderr
    assert tagged(aws.ec2) == made

    # cost: the offer's price, time running so far
    cost = json.loads(roost_cli("cost", "--json").stdout)
    assert cost[0]["name"] == "nb" and cost[0]["hourly_usd"] == pytest.approx(0.0336) and cost[0]["hours"] > 0

    # stop: the instance stops (the host with it); start: same data, same password
    assert roost_cli("stop", "nb").returncode == 0
    assert (
        aws.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]
        == "stopped"
    )
    assert json.loads(roost_cli("status", "nb", "--json").stdout)[0]["state"] == "stopped"
    started = roost_cli("start", "nb")
    assert started.returncode == 0, started.stderr
    url = started.stdout.split(": ", 1)[1].splitlines()[0]
    session = JupyterSession(url.rsplit("/lab", 1)[0])
    assert session.login(password) and session.read_text("kept.txt") == "survives stop and start"
    assert tagged(aws.ec2) == made

    # `roost autostop --down`: the instance's own shutdown now terminates it; back to stop
    def shutdown_behaviour() -> str:
        found = aws.ec2.describe_instance_attribute(
            InstanceId=instance["InstanceId"], Attribute="instanceInitiatedShutdownBehavior"
        )
        return found["InstanceInitiatedShutdownBehavior"]["Value"]

    assert roost_cli("autostop", "nb", "45m", "--down").returncode == 0
    assert shutdown_behaviour() == "terminate"
    assert json.loads(roost_cli("status", "nb", "--json").stdout)[0]["autostop_at"] > time.time() + 40 * 60
    assert roost_cli("autostop", "nb", "off").returncode == 0
    assert shutdown_behaviour() == "stop"

    # down: nothing with roost's tags is left, nor the key, nor the pinned host key
    assert roost_cli("down", "nb").returncode == 0
    assert nothing_left(aws.ec2), tagged(aws.ec2)
    assert not (roost_home / "keys" / "nb").exists()
    assert "roost-aws-nb" not in (roost_home / "known_hosts").read_text()
    gc = json.loads(roost_cli("gc", "--json").stdout)
    assert gc["leftovers"] == []
