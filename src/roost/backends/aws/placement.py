"""A cluster's placement group (``resources.placement: cluster``): its members close together.

Made by the first member to come up (members come up side by side: a twin made at the same
moment is found, not duplicated) under the cluster's own tag, like the cluster's security
group, so `roost gc` counts it as the cluster's while a member lives; deleted by the last
member to go down (EC2 refuses while a live instance is in it: that member's own down does it).
"""

from __future__ import annotations

from roost.backends.aws.cloud import Cloud, tag_filters, tags
from roost.backends.aws.cluster import cluster_tag
from roost.errors import AwsError
from roost.spec.model import Spec


def group_name(cluster: str, owner: str) -> str:
    """The placement group's name: unique per roost installation (owner) and cluster."""
    return f"roost-{owner}-{cluster}"


def ensure_placement_group(cloud: Cloud, spec: Spec, owner: str) -> str | None:
    """The name of the cluster's placement group (strategy cluster), made when missing; None
    for a spec that asks for no placement."""
    cluster = spec.aws_cluster
    if not (cluster and spec.resources.placement):
        return None
    name = group_name(cluster, owner)
    if _find(cloud, cluster, owner):
        return name
    try:
        cloud.call(
            "create the cluster's placement group",
            cloud.ec2.create_placement_group,
            GroupName=name,
            Strategy="cluster",
            TagSpecifications=[{"ResourceType": "placement-group", "Tags": tags(cluster_tag(cluster), owner)}],
        )
    except AwsError as exc:
        if exc.code != "InvalidPlacementGroup.Duplicate":
            raise  # else a member coming up beside this one made it a moment ago
    return name


def release_placement_group(cloud: Cloud, spec: Spec, owner: str) -> None:
    """Delete the cluster's placement group unless a live member is still in it."""
    cluster = spec.aws_cluster
    if not (cluster and spec.resources.placement):
        return
    for name in _find(cloud, cluster, owner):
        try:
            cloud.call("delete the cluster's placement group", cloud.ec2.delete_placement_group, GroupName=name)
        except AwsError as exc:
            if exc.code not in ("InvalidPlacementGroup.Unknown", "InvalidPlacementGroup.InUse"):
                raise  # gone already, or a member still in it: its own down deletes it


def _find(cloud: Cloud, cluster: str, owner: str) -> list[str]:
    found = cloud.call(
        "look up the cluster's placement group",
        cloud.ec2.describe_placement_groups,
        Filters=tag_filters(cluster_tag(cluster), owner),
    )["PlacementGroups"]
    return [str(group["GroupName"]) for group in found]
