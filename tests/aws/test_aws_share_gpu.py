"""AWS specifics past the basics: a shared app opens 443 (and only then); a GPU spec gets the
cheapest GPU offer and the Deep Learning AMI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import roost
from roost.catalog.offers import OfferQuery, load_offers
from roost.gateway.site import https_status
from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec
from tests.e2e.test_gateway import connects_from
from tests.helpers import AWS_NET, wait_for

pytestmark = pytest.mark.e2e
APP = {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"}


def group_rules(ec2) -> set[tuple[int, str]]:
    group = ec2.describe_security_groups(GroupIds=tagged(ec2)["security-groups"])["SecurityGroups"][0]
    return {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p.get("IpRanges", [])}


def test_sharing_opens_443_behind_tls_and_a_login(aws, cloud_init, aws_hosts, roost_home: Path, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("team dashboard")
    data = aws_spec(aws, "team", app=APP, workdir="site")
    spec = write_spec(tmp_path, data)
    assert roost_cli("up", str(spec)).returncode == 0
    assert group_rules(aws.ec2) == {(22, f"{AWS_NET}.1/32")}  # not shared: SSH only
    # the fake cloud enforces the group: another machine of the subnet reaches nothing
    host, other = aws_hosts.hosts
    aws_hosts.start(other.index)  # another machine of the subnet, up (an earlier test's instance may have ended it)
    wait_for(lambda: cloud_init.firewalls.get(host.ip), what="the security group on the test host")
    assert not connects_from(aws_hosts, other, host.ip, 22) and not connects_from(aws_hosts, other, host.ip, 443)

    data["share"] = True
    data["aws"]["share_from"] = [f"{AWS_NET}.0/24"]
    shared = roost_cli("up", str(write_spec(tmp_path, data)))
    assert shared.returncode == 0, shared.stderr
    assert f"https://{host.ip}/" in shared.stdout
    assert group_rules(aws.ec2) == {(22, f"{AWS_NET}.1/32"), (443, f"{AWS_NET}.0/24")}
    # shared: 443 answers the subnet; SSH still only the caller
    wait_for(lambda: connects_from(aws_hosts, other, host.ip, 443), what="443 open to the subnet")
    assert not connects_from(aws_hosts, other, host.ip, 22)
    ca = roost.trust("team")
    assert https_status(f"https://{host.ip}/", ca) == 401
    password = roost.add_user("team", "alice")
    assert https_status(f"https://{host.ip}/", ca, auth=("alice", password)) == 200

    # rules added by hand, of kinds roost never makes: IPv6, another group, all traffic
    group_id = tagged(aws.ec2)["security-groups"][0]
    vpc = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["VpcId"]
    other = aws.ec2.create_security_group(GroupName="someone-else", Description="x", VpcId=vpc)["GroupId"]
    aws.ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            {"IpProtocol": "tcp", "FromPort": 8888, "ToPort": 8888, "UserIdGroupPairs": [{"GroupId": other}]},
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )
    data["share"] = False  # unshared again: 443 is closed, and every rule roost did not want is gone
    assert roost_cli("up", str(write_spec(tmp_path, data))).returncode == 0
    group = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert [
        (p["IpProtocol"], p.get("FromPort"), p.get("IpRanges"), p.get("Ipv6Ranges"), p.get("UserIdGroupPairs"))
        for p in group["IpPermissions"]
    ] == [("tcp", 22, [{"CidrIp": f"{AWS_NET}.1/32", "Description": "roost"}], [], [])], group["IpPermissions"]
    assert roost_cli("down", "team").returncode == 0 and nothing_left(aws.ec2)


def test_a_gpu_spec_gets_the_cheapest_gpu_offer_and_the_deep_learning_image(
    aws, cloud_init, roost_home: Path, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "gpu", resources={"accelerators": "T4:1"}, run="nvidia-smi"))
    result = roost_cli("up", str(spec))
    query = OfferQuery(gpu="T4", gpu_count=1)
    cheapest = min((o for o in load_offers() if query.matches(o)), key=lambda o: (o.price, o.instance_type))
    instance = [i for r in aws.ec2.describe_instances()["Reservations"] for i in r["Instances"]][0]
    assert (instance["InstanceType"], instance["ImageId"]) == (cheapest.instance_type, aws.images["gpu"])
    assert cheapest.instance_type == "g4dn.xlarge"
    # the test host has no GPU: roost says so before running anything, and the machine is kept for `down`
    assert result.returncode == 1
    assert "the spec asks for 1 T4 GPU(s); machine 'gpu' has 0 (nvidia-smi)" in result.stderr
    cost = json.loads(roost_cli("cost", "--json").stdout)[0]
    assert cost["instance_type"] == "g4dn.xlarge" and cost["hourly_usd"] == pytest.approx(cheapest.price)
    assert roost_cli("down", "gpu").returncode == 0 and nothing_left(aws.ec2)


def test_autostop_powers_the_instance_off_from_inside(
    aws, cloud_init, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roost.backends.aws.backend import POWEROFF_ENV
    from tests.harness.fakecloud import HALT_COMMAND
    from tests.helpers import wait_for

    monkeypatch.setenv(POWEROFF_ENV, HALT_COMMAND)  # what `sudo shutdown -h now` is on a test host
    for down, final in ((False, "stopped"), (True, "terminated")):
        aws.fresh()
        name = "idle-down" if down else "idle"
        spec = write_spec(tmp_path, aws_spec(aws, name, autostop={"idle": "2s", "down": down}))
        started = time.time()
        assert roost_cli("up", str(spec)).returncode == 0
        instance_id = tagged(aws.ec2)["instances"][0]
        behaviour = aws.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == ("terminate" if down else "stop")

        def state() -> str:
            found = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            return found["State"]["Name"]

        wait_for(lambda: state() == final, timeout=90, what=f"the idle instance to be {final}")
        seen_stopped = time.time()
        time.sleep(3)  # a gap: the time after the stop that must not be billed
        status = json.loads(roost_cli("status", name, "--json").stdout)[0]
        assert status["state"] == ("terminated" if down else "stopped")
        if not down:  # billed until EC2 says it stopped, not until roost looked
            billed = json.loads(roost_cli("cost", "--json").stdout)[0]["hours"] * 3600
            assert billed <= seen_stopped - started + 1, (billed, seen_stopped - started)
        assert roost_cli("down", name).returncode == 0 and nothing_left(aws.ec2)
