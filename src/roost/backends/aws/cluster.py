"""A cluster's own security group: its members reach each other on every port, nobody else.

A machine whose spec names ``aws.cluster`` (every node of a multi-node job does) gets a
second security group beside its own: one per cluster, whose only rule lets in all traffic
from instances in that same group. SSH from the caller stays in each machine's own group,
so nothing outside the cluster gains anything. The group is made by the first member to
come up (members come up side by side: a twin made at the same moment is found, not
duplicated) and deleted by the last one to go down.
"""

from __future__ import annotations

from typing import Any

from roost.backends.aws import instances
from roost.backends.aws.cloud import Cloud, tag_filters, tags
from roost.errors import AwsError

ALL_FROM_ITSELF = "-1"


def cluster_tag(cluster: str) -> str:
    """The group's ``roost:machine`` tag: never a machine's name (those have no dot), so
    `roost gc` and a machine's own lookups never mistake it for a machine's group."""
    return f"{cluster}.cluster"


def ensure_cluster_group(cloud: Cloud, cluster: str, owner: str, vpc_id: str) -> str:
    """The cluster's group in ``vpc_id`` (made when missing), letting in its own members only."""
    group = _find(cloud, cluster, owner, vpc_id)
    if group is None:
        try:
            cloud.call(
                "create the cluster's security group",
                cloud.ec2.create_security_group,
                GroupName=f"roost-{owner}-cluster-{cluster}",
                Description=f"roost cluster {cluster}: its members reach each other",
                VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(cluster_tag(cluster), owner)}],
            )
        except AwsError as exc:
            if exc.code != "InvalidGroup.Duplicate":
                raise  # else a member coming up beside this one made it a moment ago
        group = _find(cloud, cluster, owner, vpc_id)
        if group is None:
            raise AwsError(f"the security group of cluster '{cluster}' vanished as it was made", hint="run again")
    if not _lets_itself_in(group):
        try:
            cloud.call(
                "let the cluster's members reach each other",
                cloud.ec2.authorize_security_group_ingress,
                GroupId=group["GroupId"],
                IpPermissions=[{"IpProtocol": ALL_FROM_ITSELF, "UserIdGroupPairs": [{"GroupId": group["GroupId"]}]}],
            )
        except AwsError as exc:
            if exc.code != "InvalidPermission.Duplicate":
                raise
    return str(group["GroupId"])


def release_cluster_group(cloud: Cloud, cluster: str, owner: str) -> None:
    """Delete the cluster's group once no live instance is in it (the last member's down)."""
    for group in cloud.call(
        "look up the cluster's security group",
        cloud.ec2.describe_security_groups,
        Filters=tag_filters(cluster_tag(cluster), owner),
    )["SecurityGroups"]:
        if _members(cloud, owner, group["GroupId"]):
            continue
        try:
            cloud.call("delete the cluster's security group", cloud.ec2.delete_security_group, GroupId=group["GroupId"])
        except AwsError as exc:
            if "NotFound" not in exc.code and exc.code != "DependencyViolation":
                raise  # gone already, or a member still holds it: its own down deletes it


def _find(cloud: Cloud, cluster: str, owner: str, vpc_id: str) -> dict[str, Any] | None:
    found = cloud.call(
        "look up the cluster's security group",
        cloud.ec2.describe_security_groups,
        Filters=[*tag_filters(cluster_tag(cluster), owner), {"Name": "vpc-id", "Values": [vpc_id]}],
    )["SecurityGroups"]
    return found[0] if found else None


def _lets_itself_in(group: dict[str, Any]) -> bool:
    return any(
        permission.get("IpProtocol") == ALL_FROM_ITSELF
        and any(pair.get("GroupId") == group["GroupId"] for pair in permission.get("UserIdGroupPairs", []))
        for permission in group.get("IpPermissions", [])
    )


def _members(cloud: Cloud, owner: str, group_id: str) -> list[str]:
    """roost's live instances (of this owner) in the group."""
    reservations = cloud.call(
        "list the cluster's instances",
        cloud.ec2.describe_instances,
        Filters=[*tag_filters(None, owner), {"Name": "instance-state-name", "Values": instances.LIVE_STATES}],
    )["Reservations"]
    return [
        item["InstanceId"]
        for reservation in reservations
        for item in reservation["Instances"]
        if group_id
        in {g["GroupId"] for g in item.get("SecurityGroups", [])}
        | {g["GroupId"] for n in item.get("NetworkInterfaces", []) for g in n.get("Groups", [])}
    ]
