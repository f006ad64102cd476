"""EC2 placement groups for the fake cloud. moto 5 has none, so moto's front (fakecloud's
MotoServer) answers CreatePlacementGroup, DescribePlacementGroups and DeletePlacementGroup
itself, in EC2's own XML shapes and error codes, refuses a RunInstances into a group that does
not exist, and remembers which instances RunInstances put into which group (``members``), so
a test can check that a cluster's nodes were placed together and nothing is left."""

from __future__ import annotations

import re
import secrets
import threading
from typing import Any

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d+/([a-z0-9-]+)/ec2/")


def _xml(action: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="{EC2_NS}">'
        f"<requestId>placement-{secrets.token_hex(4)}</requestId>{body}</{action}Response>"
    ).encode()


def _error(code: str, message: str) -> tuple[int, bytes]:
    return 400, (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error></Errors><RequestID>placement</RequestID></Response>"
    ).encode()


def region_of(environ: dict[str, Any]) -> str:
    """The region a signed EC2 request was made for."""
    found = REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found[1] if found else "us-east-1"


class PlacementGroups:
    """The placement groups of every region, with the instances launched into each."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}  # (region, name) -> group
        self.members: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every group (with moto's own reset)."""
        with self._lock:
            self.groups.clear()
            self.members.clear()

    def answer(self, region: str, params: dict[str, list[str]]) -> tuple[int, bytes] | None:
        """The response to a placement-group call (status, XML); None for any other action."""
        action = params.get("Action", [""])[0]
        with self._lock:
            if action == "CreatePlacementGroup":
                return self._create(region, params)
            if action == "DescribePlacementGroups":
                return self._describe(region, params)
            if action == "DeletePlacementGroup":
                return self._delete(region, params)
            if action == "RunInstances" and "Placement.GroupName" in params:
                name = params["Placement.GroupName"][0]
                if (region, name) not in self.groups:
                    return _error("InvalidPlacementGroup.Unknown", f"The placement group '{name}' is unknown.")
        return None

    def launched(self, region: str, name: str, response: bytes) -> None:
        """Note the instances a RunInstances into group ``name`` made (from moto's response)."""
        with self._lock:
            self.members.setdefault((region, name), []).extend(re.findall(rb"<instanceId>([^<]+)<", response))

    def _create(self, region: str, params: dict[str, list[str]]) -> tuple[int, bytes]:
        name, strategy = params["GroupName"][0], params.get("Strategy", ["cluster"])[0]
        if (region, name) in self.groups:
            return _error("InvalidPlacementGroup.Duplicate", f"The placement group '{name}' already exists.")
        tags = {
            params[key][0]: params.get(key.replace(".Key", ".Value"), [""])[0]
            for key in params
            if key.startswith("TagSpecification.1.Tag.") and key.endswith(".Key")
        }
        group = {"name": name, "strategy": strategy, "id": f"pg-{secrets.token_hex(8)}", "tags": tags}
        self.groups[(region, name)] = group
        created = f"<return>true</return><placementGroup>{_item(group)}</placementGroup>"
        return 200, _xml("CreatePlacementGroup", created)

    def _describe(self, region: str, params: dict[str, list[str]]) -> tuple[int, bytes]:
        filters: dict[str, set[str]] = {}
        for key, value in params.items():
            match = re.fullmatch(r"Filter\.(\d+)\.Name", key)
            if match:
                prefix = f"Filter.{match[1]}.Value."
                filters[value[0]] = {v[0] for k, v in params.items() if k.startswith(prefix)}
        names = {v[0] for k, v in params.items() if k.startswith("GroupName.")}
        found = [
            group
            for (where, name), group in self.groups.items()
            if where == region and (not names or name in names) and _passes(group, filters)
        ]
        items = "".join(f"<item>{_item(group)}</item>" for group in found)
        return 200, _xml("DescribePlacementGroups", f"<placementGroupSet>{items}</placementGroupSet>")

    def _delete(self, region: str, params: dict[str, list[str]]) -> tuple[int, bytes]:
        name = params["GroupName"][0]
        if (region, name) not in self.groups:
            return _error("InvalidPlacementGroup.Unknown", f"The placement group '{name}' is unknown.")
        if any(_live(region, member) for member in self.members.get((region, name), [])):
            return _error("InvalidPlacementGroup.InUse", f"There are running instances in '{name}'.")
        del self.groups[(region, name)]
        return 200, _xml("DeletePlacementGroup", "<return>true</return>")


def _item(group: dict[str, Any]) -> str:
    tags = "".join(f"<item><key>{k}</key><value>{v}</value></item>" for k, v in group["tags"].items())
    return (
        f"<groupName>{group['name']}</groupName><state>available</state><strategy>{group['strategy']}</strategy>"
        f"<groupId>{group['id']}</groupId><tagSet>{tags}</tagSet>"
    )


def _passes(group: dict[str, Any], filters: dict[str, set[str]]) -> bool:
    for name, values in filters.items():
        if name.startswith("tag:") and group["tags"].get(name[4:]) not in values:
            return False
        if name == "tag-key" and not values & set(group["tags"]):
            return False
        if name == "strategy" and group["strategy"] not in values:
            return False
    return True


def _live(region: str, instance_id: bytes) -> bool:
    """The instance is in moto and not terminated (EC2 counts only those as in the group)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    try:
        return ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id.decode()).state != "terminated"
    except Exception:  # moto's InvalidInstanceIdError: gone
        return False
