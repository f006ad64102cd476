"""The instance itself: find it by roost's tags, launch it (spot first when asked), wait,
stop, start and terminate it. Every call here is safe to repeat."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from roost.backends.aws.cloud import CAPACITY_CODES, Cloud, tag_filters, tags
from roost.catalog.offers import Offer
from roost.errors import AwsError
from roost.spec.model import Spec

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


@dataclass(frozen=True)
class LaunchPlan:
    """Everything ``run_instances`` needs, decided before the call."""

    spec: Spec
    owner: str
    offer: Offer
    image_id: str
    root_device: str
    subnet_id: str
    group_ids: tuple[str, ...]
    key_name: str
    user_data: str
    token: str
    placement_group: str | None = None


STOPPED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:UTC|GMT)\)")


def stopped_at(instance: dict[str, Any]) -> float | None:
    """When a stopped instance stopped, from EC2's StateTransitionReason (None: not said)."""
    found = STOPPED_AT.search(instance.get("StateTransitionReason") or "")
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def find_instance(cloud: Cloud, machine: str, owner: str) -> dict[str, Any] | None:
    """The machine's live instance (not terminated), or None."""
    found = cloud.call(
        "look up the instance",
        cloud.ec2.describe_instances,
        Filters=[*tag_filters(machine, owner), {"Name": "instance-state-name", "Values": LIVE_STATES}],
    )
    instances = [i for r in found["Reservations"] for i in r["Instances"]]
    return sorted(instances, key=lambda i: str(i.get("LaunchTime", "")))[-1] if instances else None


def describe(cloud: Cloud, instance_id: str) -> dict[str, Any] | None:
    """One instance by id (None when AWS no longer knows it)."""
    try:
        found = cloud.call("look up the instance", cloud.ec2.describe_instances, InstanceIds=[instance_id])
    except AwsError as exc:
        if exc.code.startswith("InvalidInstanceID"):
            return None
        raise
    instances = [i for r in found["Reservations"] for i in r["Instances"]]
    return instances[0] if instances else None


def launch(cloud: Cloud, plan: LaunchPlan, *, spot: bool) -> dict[str, Any]:
    """Run the instance, on the spot market or on demand."""
    return _run(cloud, plan, spot=spot)


def is_capacity_error(exc: AwsError) -> bool:
    """True when AWS had no room (spot or on-demand) rather than a problem with the request."""
    return exc.code in CAPACITY_CODES


def _run(cloud: Cloud, plan: LaunchPlan, *, spot: bool) -> dict[str, Any]:
    spec = plan.spec
    autostop_down = bool(spec.autostop and spec.autostop.down) or bool(spec.budget and spec.budget.then == "down")
    kwargs: dict[str, Any] = dict(
        ImageId=plan.image_id,
        InstanceType=plan.offer.instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=plan.key_name,
        UserData=plan.user_data,
        ClientToken=f"{plan.token}-{'spot' if spot else 'od'}",
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": plan.subnet_id,
                "Groups": list(plan.group_ids),
                "AssociatePublicIpAddress": spec.connect == "public",
            }
        ],
        BlockDeviceMappings=[
            {
                "DeviceName": plan.root_device,
                "Ebs": {
                    "VolumeSize": spec.resources.disk_gb,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                    "Encrypted": True,
                },
            }
        ],
        # autostop powers off from inside: no cloud credentials live on the machine
        InstanceInitiatedShutdownBehavior="terminate" if autostop_down and not spot else "stop",
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[
            {"ResourceType": kind, "Tags": tags(spec.name, plan.owner)} for kind in ("instance", "volume")
        ],
    )
    if plan.placement_group:
        kwargs["Placement"] = {"GroupName": plan.placement_group}
    if spot:
        kwargs["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"},
        }
    what = f"launch {'a spot' if spot else 'an on-demand'} {plan.offer.instance_type}"
    return cloud.call(what, cloud.ec2.run_instances, **kwargs)["Instances"][0]


def wait_state(cloud: Cloud, instance_id: str, wanted: str, timeout: float = 600.0) -> dict[str, Any]:
    """Poll until the instance reaches ``wanted``; AwsError after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        instance = describe(cloud, instance_id)
        state = instance["State"]["Name"] if instance else "terminated"
        if state == wanted:
            return instance or {}
        if state == "terminated" and wanted != "terminated":
            raise AwsError(
                f"instance {instance_id} was terminated (by AWS or someone else)",
                code="InstanceTerminated",
                hint="run `roost down NAME`, then `roost up` again",
            )
        if time.monotonic() > deadline:
            raise AwsError(
                f"instance {instance_id} is still {state} after {timeout:.0f}s (wanted {wanted})",
                code="Timeout",
                hint="look at it in the EC2 console; run the command again",
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def address(instance: dict[str, Any], connect: str) -> str | None:
    """The address roost connects to: the private one for ``connect: private``."""
    if connect == "private":
        return instance.get("PrivateIpAddress")
    return instance.get("PublicIpAddress")
