"""The network side of an AWS machine: subnet, the caller's address, the security group.

The group lets in SSH (22) only from the caller's address (/32) unless the spec names
other sources, and 443 only when the app is shared. Rules not wanted are revoked, so the
group always says exactly what the spec says.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
from typing import Any

from roost.backends.aws.cloud import Cloud, tag_filters, tags
from roost.errors import AwsError
from roost.spec.model import Spec

CHECKIP_URL = "https://checkip.amazonaws.com"


def find_subnet(cloud: Cloud, spec: Spec) -> dict[str, Any]:
    """The spec's subnet, else the default VPC's first default subnet; asked of AWS once per
    Cloud (an up's check, security group and launch share it)."""
    return cloud.remember(("subnet", spec.aws.subnet), lambda: _find_subnet(cloud, spec))


def _find_subnet(cloud: Cloud, spec: Spec) -> dict[str, Any]:
    if spec.aws.subnet:
        try:
            found = cloud.call(
                f"look up subnet {spec.aws.subnet}", cloud.ec2.describe_subnets, SubnetIds=[spec.aws.subnet]
            )["Subnets"]
        except AwsError as exc:
            if exc.code.startswith("InvalidSubnetID"):
                found = []
            else:
                raise
        if not found:
            raise AwsError(
                f"subnet {spec.aws.subnet} does not exist in {cloud.region}",
                code="InvalidSubnetID.NotFound",
                hint="fix aws.subnet in the spec, or remove it to use the default VPC",
            )
        return found[0]
    found = cloud.call(
        "look up the default subnets",
        cloud.ec2.describe_subnets,
        Filters=[{"Name": "default-for-az", "Values": ["true"]}],
    )["Subnets"]
    if not found:
        raise AwsError(
            f"{cloud.region} has no default VPC",
            code="NoDefaultVpc",
            hint="set aws.subnet in the spec to a subnet of one of your VPCs",
        )
    return sorted(found, key=lambda subnet: subnet["AvailabilityZone"])[0]


def caller_cidrs(spec: Spec, subnet: dict[str, Any]) -> list[str]:
    """Who may SSH in: ``aws.ssh_from``, else this computer's address as the machine will see it."""
    if spec.aws.ssh_from:
        return list(spec.aws.ssh_from)
    if spec.connect == "private":
        # the source address this computer uses towards the subnet (over a VPN, say)
        network = ipaddress.ip_network(subnet["CidrBlock"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((str(network.network_address + 4), 22))  # UDP: nothing is sent
            return [f"{probe.getsockname()[0]}/32"]
    try:
        with urllib.request.urlopen(CHECKIP_URL, timeout=5) as answer:
            address = answer.read().decode().strip()
        ipaddress.ip_address(address)
    except (OSError, ValueError) as exc:
        raise AwsError(
            f"could not learn this computer's public address from {CHECKIP_URL} ({exc})",
            code="CallerAddress",
            hint="set aws.ssh_from in the spec, e.g. [203.0.113.7/32]",
        ) from None
    return [f"{address}/32"]


def wanted_rules(spec: Spec, ssh_from: list[str]) -> set[tuple[int, str]]:
    """(port, CIDR) pairs the group must allow in."""
    rules = {(22, cidr) for cidr in ssh_from}
    if spec.share:
        rules |= {(443, cidr) for cidr in spec.aws.share_from}
    return rules


def group_name(owner: str, machine: str) -> str:
    """The security group's name for a machine."""
    return f"roost-{owner}-{machine}"


def ensure_security_group(cloud: Cloud, spec: Spec, owner: str, vpc_id: str, ssh_from: list[str]) -> str:
    """Create (or find) the machine's group and make its inbound rules exactly the wanted ones."""
    name = group_name(owner, spec.name)
    found = cloud.call(
        "look up the security group",
        cloud.ec2.describe_security_groups,
        Filters=[*tag_filters(spec.name, owner), {"Name": "vpc-id", "Values": [vpc_id]}],
    )
    groups = found["SecurityGroups"]
    if groups:
        group_id = groups[0]["GroupId"]
        current = _current_rules(groups[0])
    else:
        group_id = cloud.call(
            "create the security group",
            cloud.ec2.create_security_group,
            GroupName=name,
            Description=f"roost machine {spec.name}: SSH from the owner only",
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(spec.name, owner)}],
        )["GroupId"]
        current = set()
    wanted = wanted_rules(spec, ssh_from)
    unwanted = _unwanted(groups[0], wanted) if groups else []
    missing = wanted - current
    if unwanted:
        cloud.call(
            "remove old security group rules",
            cloud.ec2.revoke_security_group_ingress,
            GroupId=group_id,
            IpPermissions=unwanted,
        )
    if missing:
        cloud.call(
            "allow SSH in the security group",
            cloud.ec2.authorize_security_group_ingress,
            GroupId=group_id,
            IpPermissions=_permissions(missing),
        )
    return group_id


def _single_tcp_port(permission: dict[str, Any]) -> int | None:
    """The port of a rule for one TCP port (the only kind roost makes); None for any other."""
    if permission.get("IpProtocol") == "tcp" and permission.get("FromPort") == permission.get("ToPort"):
        return int(permission["FromPort"])
    return None


def _current_rules(group: dict[str, Any]) -> set[tuple[int, str]]:
    """The (port, IPv4 CIDR) rules of the kind roost makes that the group has."""
    rules = set()
    for permission in group.get("IpPermissions", []):
        port = _single_tcp_port(permission)
        if port is not None:
            rules |= {(port, ip_range["CidrIp"]) for ip_range in permission.get("IpRanges", [])}
    return rules


def _unwanted(group: dict[str, Any], wanted: set[tuple[int, str]]) -> list[dict[str, Any]]:
    """Every inbound rule that is not wanted, in the form revoke takes: IPv4 ranges roost does
    not want, and all IPv6 ranges, prefix lists and rules that let in another security group
    (someone added them by hand, or an older roost did): the group allows exactly ``wanted``."""
    unwanted = []
    for permission in group.get("IpPermissions", []):
        port = _single_tcp_port(permission)
        ranges = [{"CidrIp": r["CidrIp"]} for r in permission.get("IpRanges", []) if (port, r["CidrIp"]) not in wanted]
        others = {key: permission[key] for key in ("Ipv6Ranges", "PrefixListIds") if permission.get(key)}
        pairs = [{"GroupId": pair["GroupId"]} for pair in permission.get("UserIdGroupPairs", []) if pair.get("GroupId")]
        if ranges or others or pairs:
            ports = {k: permission[k] for k in ("FromPort", "ToPort") if k in permission}
            unwanted.append(
                {
                    "IpProtocol": permission["IpProtocol"],
                    **ports,
                    **({"IpRanges": ranges} if ranges else {}),
                    **others,
                    **({"UserIdGroupPairs": pairs} if pairs else {}),
                }
            )
    return unwanted


def _permissions(rules: set[tuple[int, str]]) -> list[dict[str, Any]]:
    by_port: dict[int, list[str]] = {}
    for port, cidr in sorted(rules):
        by_port.setdefault(port, []).append(cidr)
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "IpRanges": [{"CidrIp": cidr, "Description": "roost"} for cidr in cidrs],
        }
        for port, cidrs in by_port.items()
    ]
