"""Finding and deleting what roost created on AWS: per machine (``down``) and leftovers (``gc``).

A leftover is a resource with this ROOST_HOME's owner tag whose ``roost:machine`` has no
record in the state database: what a crash, or a state file deleted by hand, left behind.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from roost.backends.aws import instances
from roost.backends.aws.cloud import Cloud, tag_filters
from roost.errors import AwsError


class CloudResource(BaseModel):
    """One resource roost created: its kind, id and the machine it belongs to."""

    kind: str  # instance, security-group, placement-group, key-pair, volume
    id: str
    machine: str
    region: str


def _machine_of(item: dict[str, Any]) -> str:
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "roost:machine"), "?")


def owned(cloud: Cloud, owner: str, machine: str | None = None) -> list[CloudResource]:
    """Every resource tagged with ``owner`` (and ``machine``), instances that are not terminated."""
    filters = tag_filters(machine, owner)
    found: list[CloudResource] = []
    reservations = cloud.call(
        "list instances",
        cloud.ec2.describe_instances,
        Filters=[*filters, {"Name": "instance-state-name", "Values": instances.LIVE_STATES + ["shutting-down"]}],
    )
    for reservation in reservations["Reservations"]:
        for item in reservation["Instances"]:
            found.append(
                CloudResource(kind="instance", id=item["InstanceId"], machine=_machine_of(item), region=cloud.region)
            )
    for item in cloud.call("list security groups", cloud.ec2.describe_security_groups, Filters=filters)[
        "SecurityGroups"
    ]:
        found.append(
            CloudResource(kind="security-group", id=item["GroupId"], machine=_machine_of(item), region=cloud.region)
        )
    for item in cloud.call("list placement groups", cloud.ec2.describe_placement_groups, Filters=filters)[
        "PlacementGroups"
    ]:
        found.append(
            CloudResource(kind="placement-group", id=item["GroupName"], machine=_machine_of(item), region=cloud.region)
        )
    for item in cloud.call("list key pairs", cloud.ec2.describe_key_pairs, Filters=filters)["KeyPairs"]:
        found.append(CloudResource(kind="key-pair", id=item["KeyName"], machine=_machine_of(item), region=cloud.region))
    for item in cloud.call("list volumes", cloud.ec2.describe_volumes, Filters=filters)["Volumes"]:
        if item.get("State") != "in-use":  # attached volumes go with their instance
            found.append(
                CloudResource(kind="volume", id=item["VolumeId"], machine=_machine_of(item), region=cloud.region)
            )
    return found


def delete_groups(cloud: Cloud, owner: str, machine: str) -> None:
    """Delete the machine's security groups (its instance must be gone)."""
    for item in cloud.call(
        "list security groups", cloud.ec2.describe_security_groups, Filters=tag_filters(machine, owner)
    )["SecurityGroups"]:
        _ignore_missing(
            lambda group=item["GroupId"]: cloud.call(
                "delete the security group", cloud.ec2.delete_security_group, GroupId=group
            )
        )


def delete_key_pairs(cloud: Cloud, owner: str, machine: str) -> None:
    """Delete the machine's key pairs."""
    for item in cloud.call("list key pairs", cloud.ec2.describe_key_pairs, Filters=tag_filters(machine, owner))[
        "KeyPairs"
    ]:
        _ignore_missing(
            lambda key=item["KeyName"]: cloud.call("delete the key pair", cloud.ec2.delete_key_pair, KeyName=key)
        )


def delete(cloud: Cloud, resources: list[CloudResource]) -> None:
    """Delete resources in a safe order: instances (waiting until gone), then volumes, groups, keys."""
    kinds = ["instance", "volume", "security-group", "placement-group", "key-pair"]
    ordered = sorted(resources, key=lambda r: kinds.index(r.kind))
    doomed = [r.id for r in ordered if r.kind == "instance"]
    if doomed:
        cloud.call("terminate instances", cloud.ec2.terminate_instances, InstanceIds=doomed)
        for instance_id in doomed:
            instances.wait_state(cloud, instance_id, "terminated")
    for resource in ordered:
        if resource.kind == "volume":
            _ignore_missing(lambda r=resource: cloud.call("delete a volume", cloud.ec2.delete_volume, VolumeId=r.id))
        elif resource.kind == "security-group":
            _ignore_missing(
                lambda r=resource: cloud.call("delete a security group", cloud.ec2.delete_security_group, GroupId=r.id)
            )
        elif resource.kind == "placement-group":
            _ignore_missing(
                lambda r=resource: cloud.call(
                    "delete a placement group", cloud.ec2.delete_placement_group, GroupName=r.id
                )
            )
        elif resource.kind == "key-pair":
            _ignore_missing(lambda r=resource: cloud.call("delete a key pair", cloud.ec2.delete_key_pair, KeyName=r.id))


def _ignore_missing(action: Any) -> None:
    try:
        action()
    except AwsError as exc:
        if "NotFound" not in exc.code and exc.code != "InvalidPlacementGroup.Unknown":
            raise
