"""Capacity and quota refusals (AWS's own error responses, injected in front of moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roost.catalog.offers import OfferQuery, find_offers
from tests.aws.helpers import aws_spec, nothing_left, roost_cli, tagged, write_spec

pytestmark = pytest.mark.e2e
# the cheapest offers for 2 vCPUs and 4 GiB in us-east-1 (the test subnet's region), from roost's snapshot
SPOT = find_offers(OfferQuery(cpus=2, memory_gib=4, spot=True))[0]
ON_DEMAND = find_offers(OfferQuery(cpus=2, memory_gib=4))[0]


def test_spot_without_capacity_falls_back_to_on_demand_and_says_so(
    aws, cloud_init, roost_home: Path, tmp_path: Path
) -> None:
    aws.moto.refuse("spot", "InsufficientInstanceCapacity")
    spec = write_spec(tmp_path, aws_spec(aws, "cheap", resources={"cpus": 2, "memory": 4, "spot": True}))
    result = roost_cli("up", str(spec))
    assert result.returncode == 0, result.stderr
    # the cheapest spot offer was refused: the cheapest on-demand one (another type) instead
    assert (
        f"spot {SPOT.instance_type} refused (InsufficientInstanceCapacity); "
        f"launching on-demand {ON_DEMAND.instance_type} at ${ON_DEMAND.price:.4f}/h" in result.stderr
    )
    assert SPOT.instance_type != ON_DEMAND.instance_type  # the fallback is its own choice
    assert aws.moto.refused == ["spot:InsufficientInstanceCapacity"]
    instance = aws.ec2.describe_instances(InstanceIds=tagged(aws.ec2)["instances"])["Reservations"][0]["Instances"][0]
    assert instance.get("InstanceLifecycle") != "spot" and instance["InstanceType"] == ON_DEMAND.instance_type
    assert json.loads(roost_cli("cost", "--json").stdout)[0]["hourly_usd"] == pytest.approx(ON_DEMAND.price)
    assert roost_cli("down", "cheap").returncode == 0 and nothing_left(aws.ec2)


def test_spot_is_used_when_it_has_capacity(aws, cloud_init, roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, aws_spec(aws, "spotty", resources={"cpus": 2, "memory": 4, "spot": True}))
    assert roost_cli("up", str(spec)).returncode == 0
    instance = aws.ec2.describe_instances(InstanceIds=tagged(aws.ec2)["instances"])["Reservations"][0]["Instances"][0]
    assert instance.get("InstanceLifecycle") == "spot" and instance["InstanceType"] == SPOT.instance_type
    assert json.loads(roost_cli("cost", "--json").stdout)[0]["hourly_usd"] == pytest.approx(SPOT.spot_price)
    assert roost_cli("down", "spotty").returncode == 0 and nothing_left(aws.ec2)


@pytest.mark.parametrize(
    ("refusals", "message", "hint"),
    [
        (
            [("spot", "InsufficientInstanceCapacity"), ("on-demand", "InsufficientInstanceCapacity")],
            f"AWS refused to launch an on-demand {ON_DEMAND.instance_type}: InsufficientInstanceCapacity",
            "try another region",
        ),
        (
            [("any", "VcpuLimitExceeded")],
            f"AWS refused to launch a spot {SPOT.instance_type}: VcpuLimitExceeded",
            "ask AWS for a higher quota",
        ),
    ],
)
def test_refused_everywhere_is_a_clear_error_and_leaves_nothing(
    aws, roost_home: Path, tmp_path: Path, refusals, message, hint
) -> None:
    for market, code in refusals:
        aws.moto.refuse(market, code)
    spec = write_spec(tmp_path, aws_spec(aws, "none", resources={"cpus": 2, "memory": 4, "spot": True}))
    result = roost_cli("up", str(spec))
    assert result.returncode == 1 and message in result.stderr and hint in result.stderr, result.stderr
    assert "removing what was created for 'none'" in result.stderr
    assert nothing_left(aws.ec2), tagged(aws.ec2)  # the key pair and group made before are gone too
    assert json.loads(roost_cli("status", "--json").stdout) == []
