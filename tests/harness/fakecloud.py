"""moto for the AWS control plane, and test hosts standing where its instances "are".

moto hands private IPs in a fresh subnet from .4 upwards, so test host i (``TH_FIRST=4``,
user ``ubuntu``) sits at the k-th instance's address. :class:`CloudInit` plays the part of
EC2 + cloud-init for those hosts: when an instance appears it gives the host a fresh home,
authorizes the instance's key pair and runs its user-data as root; when the instance
stops, starts or terminates, the host does the same. Nothing here connects to the public
IPs moto invents.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import threading
import time
from typing import Any

from tests.harness.placement_groups import PlacementGroups, region_of
from tests.harness.testhosts import TestHosts

UBUNTU_PARAMETER = "/roost-test/ubuntu/{arch}/ami-id"
GPU_PARAMETER = "/roost-test/dlami/ami-id"
UBUNTU_AMI = "ami-785db401"  # in moto's own AMI list (Ubuntu, x86_64)
DLAMI_AMI = "ami-dca37ea5"  # moto's "Deep Learning AMI Ubuntu"
HALT_MARKER = "roost-test-halted"
HALT_COMMAND = f"touch /tmp/{HALT_MARKER}"
"""The tests' power-off command: test hosts cannot halt, so they leave a mark instead."""
IMDS_SCRIPT = r"""
import http.server, os
ACTION = "/tmp/roost-test-instance-action"
TOKEN = b"fake-imds-token"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.answer(200 if self.path == "/latest/api/token" else 404, TOKEN)

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token", "").encode() != TOKEN:
            return self.answer(401, b"")
        if self.path == "/latest/meta-data/spot/instance-action" and os.path.exists(ACTION):
            return self.answer(200, open(ACTION, "rb").read())
        self.answer(404, b"")

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("169.254.169.254", 80), Handler).serve_forever()
"""
"""The instance metadata service's answers roost reads (IMDSv2: a token, then the spot
instance-action document, 404 until :meth:`CloudInit.interrupt`), at its real address."""
ARM_AMI = "ami-0a7a7a7a7a7a7a7a7"  # added to moto's list below: its own images are all x86_64


WATCHED_ACTIONS = frozenset(
    {
        "RunInstances",
        "StartInstances",
        "StopInstances",
        "TerminateInstances",
        "RebootInstances",
        "ModifyInstanceAttribute",
        "ModifyNetworkInterfaceAttribute",
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "DeleteSecurityGroup",
    }
)
"""The EC2 calls after which the fake cloud looks at once; it also looks every LOOK_EVERY seconds."""
LOOK_EVERY = 1.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server on 127.0.0.1, in this process (a thread), with refusals a test can ask for.

    moto never runs out of capacity or quota; :meth:`refuse` makes its RunInstances answer
    with AWS's own error (code and XML shape) for the calls a test names, so roost's real
    boto3 path meets a real error response.
    """

    def __init__(self) -> None:
        import logging

        from moto.ec2.models import amis

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        if not any(image["ami_id"] == ARM_AMI for image in amis.AMIS):
            amis.AMIS.append(
                {
                    "ami_id": ARM_AMI,
                    "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server",
                    "description": "Ubuntu 24.04 arm64 (test)",
                    "owner_id": "099720109477",
                    "public": True,
                    "virtualization_type": "hvm",
                    "architecture": "arm64",
                    "state": "available",
                    "platform": None,
                    "image_type": "machine",
                    "hypervisor": "xen",
                    "root_device_name": "/dev/sda1",
                    "root_device_type": "ebs",
                    "sriov": "simple",
                    "creation_date": "2026-11-01T00:00:00.000Z",
                }
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refusals: list[tuple[str, str]] = []  # (market: spot / on-demand / any, AWS error code)
        self.refused: list[str] = []
        self.placement_groups = PlacementGroups()  # moto has none: its front keeps them
        self.changed = threading.Event()
        """Set after each call that changes instances or security groups (the fake cloud's cue)."""
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def refuse(self, market: str, code: str) -> None:
        """Make RunInstances for ``market`` (spot, on-demand or any) fail with ``code``."""
        self.refusals.append((market, code))

    def _app(self) -> Any:
        import io
        from urllib.parse import parse_qs

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto_app = DomainDispatcherApplication(create_backend_app)

        def respond(start_response: Any, status: int, body: bytes) -> list[bytes]:
            start_response(
                "200 OK" if status == 200 else "400 Bad Request",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            params = parse_qs(body.decode(errors="replace"))
            region = region_of(environ)
            answered = self.placement_groups.answer(region, params)
            if answered:
                return respond(start_response, *answered)
            if params.get("Action") == ["RunInstances"]:
                market = "spot" if params.get("InstanceMarketOptions.MarketType") == ["spot"] else "on-demand"
                for wanted, code in self.refusals:
                    if wanted in (market, "any"):
                        self.refused.append(f"{market}:{code}")
                        xml = (
                            f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}'
                            f"</Code><Message>refused by the test ({market})</Message></Error></Errors>"
                            "<RequestID>test</RequestID></Response>"
                        ).encode()
                        return respond(start_response, 400, xml)
                if "Placement.GroupName" in params:  # note which instances went into the group
                    launched = b"".join(moto_app(environ, start_response))
                    self.placement_groups.launched(region, params["Placement.GroupName"][0], launched)
                    self.changed.set()
                    return [launched]
            answer = moto_app(environ, start_response)
            if params.get("Action", [""])[0] in WATCHED_ACTIONS:
                self.changed.set()
            return answer

        return app

    def start(self) -> MotoServer:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server("127.0.0.1", self.port, self._app(), True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="moto")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget every resource (``POST /moto-api/reset``) and every refusal."""
        import urllib.request

        self.refusals.clear()
        self.refused.clear()
        self.placement_groups.reset()
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)

    def env(self) -> dict[str, str]:
        """What a roost process needs to talk to this server as its AWS."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "ROOST_AWS_UBUNTU_PARAMETER": UBUNTU_PARAMETER,
            "ROOST_AWS_GPU_PARAMETER": GPU_PARAMETER,
            "NO_PROXY": "127.0.0.1,localhost",
            # with no credentials, boto3 must not ask the instance metadata address (not 127/8)
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str = "ec2") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def seed(moto: MotoServer, cidr: str) -> tuple[str, dict[str, str]]:
    """A VPC and subnet at ``cidr`` (the test hosts' network) and the image parameters:
    (subnet id, {"amd64": AMI, "arm64": AMI, "gpu": AMI})."""
    ec2, ssm = moto.client("ec2"), moto.client("ssm")
    vpc = ec2.create_vpc(CidrBlock=str(ipaddress.ip_network(cidr).supernet(new_prefix=16)))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
    images = {"amd64": UBUNTU_AMI, "arm64": ARM_AMI, "gpu": DLAMI_AMI}
    for arch in ("amd64", "arm64"):
        ssm.put_parameter(Name=UBUNTU_PARAMETER.format(arch=arch), Value=images[arch], Type="String", Overwrite=True)
    ssm.put_parameter(Name=GPU_PARAMETER, Value=DLAMI_AMI, Type="String", Overwrite=True)
    return subnet, images


def group_ids(instance: dict[str, Any]) -> set[str]:
    """The instance's security groups (an instance launched with network interfaces lists them there)."""
    found = {g["GroupId"] for g in instance.get("SecurityGroups", [])}
    return found | {g["GroupId"] for n in instance.get("NetworkInterfaces", []) for g in n.get("Groups", [])}


def firewall(groups: list[dict[str, Any]], members: dict[str, list[str]]) -> str:
    """An nftables ruleset that lets in what these security groups allow and drops the rest:
    IPv4 and IPv6 ranges, and other groups (by their members' private addresses); replies to
    the host's own connections and loopback pass, as EC2's stateful groups let them."""
    rules = []
    for group in groups:
        for permission in group.get("IpPermissions", []):
            protocol = permission.get("IpProtocol", "-1")
            if protocol in ("tcp", "udp", "6", "17"):
                name = "tcp" if protocol in ("tcp", "6") else "udp"
                low, high = permission.get("FromPort", 0), permission.get("ToPort", 65535)
                match = f"{name} dport {low}" if low == high else f"{name} dport {low}-{high}"
            else:
                match = "meta l4proto { tcp, udp, icmp, ipv6-icmp }"
            sources = [f"ip saddr {r['CidrIp']}" for r in permission.get("IpRanges", [])]
            sources += [f"ip6 saddr {r['CidrIpv6']}" for r in permission.get("Ipv6Ranges", [])]
            for pair in permission.get("UserIdGroupPairs", []):
                addresses = members.get(pair.get("GroupId", ""), [])
                if addresses:
                    sources.append(f"ip saddr {{ {', '.join(addresses)} }}")
            rules += [f"\t\t{source} {match} accept\n" for source in sources]
    return (
        "table inet roost_sg {}\ndelete table inet roost_sg\n"
        "table inet roost_sg {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n"
        "\t\tct state established,related accept\n\t\tiif lo accept\n" + "".join(rules) + "\t}\n}\n"
    )


class CloudInit(threading.Thread):
    """Watches moto's instances and makes the test hosts at their addresses follow them."""

    def __init__(self, moto: MotoServer, hosts: TestHosts) -> None:
        super().__init__(daemon=True, name="fake-cloud-init")
        self.ec2 = moto.client("ec2")
        self.changed = moto.changed
        self.hosts = hosts
        self.by_ip = {host.ip: host for host in hosts.hosts}
        self.seen: dict[str, str] = {}
        self.holder: dict[str, str] = {}  # address -> the instance that has it now
        self.booted: list[str] = []  # instance ids, in the order their user-data ran
        self.halts: list[tuple[str, str]] = []  # (instance, what EC2 did) after an OS halt
        self.errors: list[str] = []
        self.firewalls: dict[str, str] = {}  # address -> the nftables ruleset applied there
        self.booting: dict[str, threading.Thread] = {}  # address -> its boot, while it runs
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.changed.clear()  # before the look: a change made during it brings another
            try:
                self.tick()
            except Exception as exc:
                import sys
                import traceback

                self.errors.append(repr(exc))
                traceback.print_exc(file=sys.stderr)
            self.changed.wait(LOOK_EVERY)  # at once after a change; now and then for an OS halt

    def stop(self) -> None:
        self._halt.set()
        self.changed.set()
        self.join(timeout=10)
        for boot in list(self.booting.values()):
            boot.join(timeout=130)

    def tick(self) -> None:
        reservations = self.ec2.describe_instances()["Reservations"]
        for ip in [ip for ip, boot in self.booting.items() if not boot.is_alive()]:
            del self.booting[ip]
        for instance in [i for r in reservations for i in r["Instances"]]:
            ip = instance.get("PrivateIpAddress", "")
            host = self.by_ip.get(ip)
            if ip in self.booting:
                continue  # what happened to it meanwhile is seen once it has booted
            if (
                host is not None
                and instance["State"]["Name"] == "running"
                and self.holder.get(ip) == instance["InstanceId"]
            ):
                self._halted(instance, host)
            state, before = instance["State"]["Name"], self.seen.get(instance["InstanceId"])
            if host is None or state == before:
                continue

            self.seen[instance["InstanceId"]] = state
            if state in ("pending", "running") and before is None:
                # EC2 boots the instances of a launch side by side, while it answers other calls
                self.holder[ip] = instance["InstanceId"]
                self.booting[ip] = threading.Thread(target=self._boot_or_report, args=(instance, host), daemon=True)
                self.booting[ip].start()
            elif self.holder.get(ip) != instance["InstanceId"]:
                continue  # an old instance at an address a newer one now holds
            elif state == "running" and before in ("stopping", "stopped"):
                self.hosts.start(host.index)
                self._start_imds(host)
            elif state in ("stopped", "terminated") and before in ("pending", "running", "stopping"):
                self.hosts.stop(host.index)
        self._enforce_security_groups([i for r in reservations for i in r["Instances"]])

    def _enforce_security_groups(self, instances: list[dict[str, Any]]) -> None:
        """Each test host playing a running instance lets in only what its security groups allow
        (nftables in its network namespace, replaced whenever the groups change), as EC2 does."""
        live = [i for i in instances if i["State"]["Name"] in ("pending", "running")]
        ids = sorted({group for i in live for group in group_ids(i)})
        # by filter, not by id: a group deleted since describe_instances (a down in between) is
        # simply absent, where asking for it by id fails the whole round
        found = self.ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": ids}]) if ids else {}
        groups = {g["GroupId"]: g for g in found.get("SecurityGroups", [])}
        members = {group: sorted(i["PrivateIpAddress"] for i in live if group in group_ids(i)) for group in groups}
        for instance in live:
            ip = instance.get("PrivateIpAddress", "")
            host = self.by_ip.get(ip)
            if host is None or self.holder.get(ip) != instance["InstanceId"] or ip in self.booting:
                continue  # a booting host gets its firewall at the look after its boot
            if not any(g in groups for g in group_ids(instance)):
                continue  # its groups deleted under it (moto allows that; EC2 refuses to): a down is on its way
            ruleset = firewall([groups[g] for g in group_ids(instance) if g in groups], members)
            if self.firewalls.get(ip) == ruleset:
                continue
            result = self.hosts.root(host.index, f"nft -f - <<'ROOST_NFT'\n{ruleset}ROOST_NFT\n")
            if result.returncode != 0:
                self.errors.append(f"nft on {ip} failed: {result.stderr}")
                continue
            self.firewalls[ip] = ruleset

    def _halted(self, instance: dict[str, Any], host: Any) -> None:
        """The OS halted (HALT_MARKER written by the test's power-off command): do what EC2
        does, by the instance's shutdown behaviour."""
        marker = self.hosts.directory / f"h{host.index}" / "tmp" / HALT_MARKER
        if not marker.exists():
            return
        marker.unlink()
        instance_id = instance["InstanceId"]
        behaviour = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        if behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate":
            self.ec2.terminate_instances(InstanceIds=[instance_id])
        else:
            self.ec2.stop_instances(InstanceIds=[instance_id])
        self.halts.append((instance_id, behaviour["InstanceInitiatedShutdownBehavior"]["Value"]))

    def _boot_or_report(self, instance: dict[str, Any], host: Any) -> None:
        """Boot the instance; a failure is recorded in ``errors`` (as the watcher's own are)."""
        try:
            self._boot(instance, host)
            self.changed.set()  # a look now: its firewall, and whatever happened to it meanwhile
        except Exception as exc:
            import sys
            import traceback

            folder = self.hosts.directory / f"h{host.index}"
            console = (folder / "console.log").read_text()[-1500:] if (folder / "console.log").exists() else ""
            self.errors.append(f"boot of {instance['InstanceId']} on {host.ip}: {exc!r}; console: {console}")
            traceback.print_exc(file=sys.stderr)

    def _boot(self, instance: dict[str, Any], host: Any) -> None:
        """A new machine: fresh home, the key pair authorized, user-data run as root."""
        self.hosts.stop(host.index)
        # a new instance starts without the last one's firewall (its own comes at the next round)
        self.hosts.drop_nft_table(host.index, "roost_sg")
        self.firewalls.pop(host.ip, None)
        home = self.hosts.home_of(host)
        shutil.rmtree(home, ignore_errors=True)
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        key = self.ec2.describe_key_pairs(KeyNames=[instance["KeyName"]], IncludePublicKey=True)["KeyPairs"][0]
        (home / ".ssh" / "authorized_keys").write_text(key["PublicKey"].strip() + "\n")
        shutil.chown(home, host.user, host.user)
        for path in home.rglob("*"):
            shutil.chown(path, host.user, host.user)
        home.chmod(0o700)
        (home / ".ssh" / "authorized_keys").chmod(0o600)
        import base64

        data = self.ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
        script = base64.b64decode(data["UserData"]["Value"]).decode() if data.get("UserData") else "true"
        # run as root at boot before sshd answers (hostinit), as on EC2: no connection ever
        # meets the key of an instance that held this address before
        folder = self.hosts.directory / f"h{host.index}"
        (folder / "firstboot.status").unlink(missing_ok=True)
        (folder / "firstboot.sh").write_text(script)
        self.hosts.start(host.index)
        self._start_imds(host)
        status = (folder / "firstboot.status").read_text().strip() if (folder / "firstboot.status").exists() else "?"
        if status != "ok":
            log = (folder / "firstboot.log").read_text() if (folder / "firstboot.log").exists() else ""
            self.errors.append(f"user-data of {instance['InstanceId']} {status}: {log[-2000:]}")
        self.booted.append(instance["InstanceId"])

    def _start_imds(self, host: Any) -> None:
        """The metadata service at 169.254.169.254 inside the host, as every EC2 instance has."""
        tmp = self.hosts.directory / f"h{host.index}" / "tmp"
        (tmp / "roost-test-instance-action").unlink(missing_ok=True)
        (tmp / "roost-imds.py").write_text(IMDS_SCRIPT)
        started = self.hosts.root(
            host.index,
            "ip addr add 169.254.169.254/32 dev lo 2>/dev/null; "
            "setsid python3 /tmp/roost-imds.py </dev/null >/dev/null 2>&1 &",
        )
        if started.returncode != 0:
            self.errors.append(f"metadata service on {host.ip}: {started.stderr}")

    def interrupt(self, instance_id: str) -> None:
        """EC2 decides to reclaim a spot instance: its metadata service now says so (two minutes ahead)."""
        found = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        host = self.by_ip[found["PrivateIpAddress"]]
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
        action = self.hosts.directory / f"h{host.index}" / "tmp" / "roost-test-instance-action"
        action.write_text(json.dumps({"action": "terminate", "time": when}))

    def wait_idle(self, seconds: float = 1.0) -> None:
        """Give the watcher time for one more look."""
        time.sleep(seconds)
