"""What the AWS tests look at: roost's resources in moto, specs, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOST = [sys.executable, "-m", "roost"]


def roost_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the roost CLI with this process's environment (plus ``env``)."""
    return subprocess.run(
        [*ROOST, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )


def write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def aws_spec(aws, name: str, **extra) -> dict:
    """A spec for the test subnet, reached over private addresses."""
    return {"name": name, "backend": "aws", "connect": "private", "aws": {"subnet": aws.subnet}, **extra}


def tagged(ec2) -> dict[str, list[str]]:
    """roost-tagged resources that exist (instances not terminated), by kind."""
    filters = [{"Name": "tag-key", "Values": ["roost:owner"]}]
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=filters)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    return {
        "instances": sorted(instances),
        "security-groups": sorted(
            g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
        ),
        "key-pairs": sorted(k["KeyName"] for k in ec2.describe_key_pairs(Filters=filters)["KeyPairs"]),
        "volumes": sorted(v["VolumeId"] for v in ec2.describe_volumes(Filters=filters)["Volumes"]),
        "placement-groups": sorted(
            g["GroupName"] for g in ec2.describe_placement_groups(Filters=filters)["PlacementGroups"]
        ),
    }


def nothing_left(ec2) -> bool:
    return not any(tagged(ec2).values())
