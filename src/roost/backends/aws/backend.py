"""The AWS EC2 backend: a machine from nothing (key pair, security group, instance) to SSH.

Provisioning is named steps, each recorded before and after it runs and each a find-or-create
by roost's tags (``roost:machine``, ``roost:owner``): a crash at any point converges on the next
``up`` and leaves nothing ``down`` or ``gc`` cannot find. Past the API everything is the SSH data
plane, to the instance's address (public, or private with ``connect: private``), looked up at
each use (a start may change it).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any, ClassVar

from roost.backends.aws import cluster, gc, images, instances, keys, network, placement
from roost.backends.aws.cloud import DEFAULT_REGION, Cloud
from roost.backends.aws.userdata import user_data
from roost.backends.base import Backend
from roost.backends.sshplane.dataplane import SshDataPlane
from roost.catalog.offers import ANY_REGION, Offer, resolve_offer
from roost.errors import AwsError, BackendError, HostError, RoostError
from roost.machine.record import CloudFacts, MachineFacts, MachineRecord, MachineState
from roost.machine.steps import Step
from roost.spec.model import Resources
from roost.transport.ssh import tunnel
from roost.transport.ssh.runner import SshRunner
from roost.transport.ssh.target import SshTarget, control_dir

POWEROFF_ENV = "ROOST_AWS_POWEROFF_COMMAND"
"""Overrides how the agent halts a machine after autostop (for machines without sudo)."""
DEFAULT_RESOURCES = {"cpus": 2, "memory_gib": 4.0}
"""What a spec without resources gets: at least 2 vCPUs and 4 GiB."""


class AwsBackend(SshDataPlane, Backend):
    """EC2 instances that roost creates, reaches over SSH and deletes without leftovers."""

    kind = "aws"
    creates_resources = True
    powers_off = True
    STATE_MAP: ClassVar[dict[str, MachineState]] = {
        "none": MachineState.TERMINATED,
        "pending": MachineState.PROVISIONING,
        "running": MachineState.RUNNING,
        "stopping": MachineState.STOPPED,
        "stopped": MachineState.STOPPED,
        "shutting-down": MachineState.TERMINATED,
        "terminated": MachineState.TERMINATED,
    }
    UP_STEPS = ("aws-check", "aws-key-pair", "aws-security-group", "aws-instance", "aws-running")
    DOWN_STEPS = ("aws-terminate", "aws-delete-security-group", "aws-delete-key-pair")

    def __init__(self) -> None:
        self._clouds: dict[str, Cloud] = {}
        self._instances: dict[str, dict[str, Any]] = {}
        self._offers: dict[str, Offer] = {}

    # --- the cloud side -------------------------------------------------------------------
    def cloud(self, record: MachineRecord) -> Cloud:
        """EC2/SSM clients for the machine's region (credentials checked on first use)."""
        region = self.region_of(record)
        return self._clouds.setdefault(region, self._clouds.get(region) or Cloud(region))

    def region_of(self, record: MachineRecord) -> str:
        """Where the machine is, or for a new one will be (see :meth:`_fixed_region`)."""
        return self._fixed_region(record) or self.offer(record).region

    @staticmethod
    def _fixed_region(record: MachineRecord) -> str | None:
        """The region the machine must be in: the one it was made in; the spec's; us-east-1 for
        a spec naming a subnet or an AMI id without a region (those ids belong to one region).
        None: the region of the cheapest fitting offer (no region, or ``any``)."""
        if record.facts.cloud is not None:
            return record.facts.cloud.region
        resources = record.spec.resources
        if resources.region and resources.region != ANY_REGION:
            return resources.region
        if record.spec.aws.subnet or (resources.image or "").startswith("ami-"):
            return DEFAULT_REGION
        return None

    def _facts(self, record: MachineRecord) -> CloudFacts:
        if record.facts.cloud is None:
            record.facts.cloud = CloudFacts(region=self.cloud(record).region)
        return record.facts.cloud

    def _instance(self, record: MachineRecord, *, fresh: bool = False) -> dict[str, Any] | None:
        """The machine's instance (looked up once per backend object unless ``fresh``)."""
        if fresh or record.name not in self._instances:
            found = instances.find_instance(self.cloud(record), record.name, keys.owner_id())
            if found is None:
                self._instances.pop(record.name, None)
                return None
            self._instances[record.name] = found
        return self._instances[record.name]

    def provision_steps(self, record: MachineRecord, save: Callable[[], None]) -> list[Step]:
        """The cloud steps before SSH: check, key pair, security group, instance, running."""

        def run(action: Callable[[MachineRecord], None]) -> Callable[[], None]:
            def step() -> None:
                action(record)
                save()

            return step

        return [
            Step("aws-check", "check region, credentials, offer and image", run(self._check), always=True),
            Step("aws-key-pair", "key pair", run(self._key_pair), always=True),
            Step("aws-security-group", "security group (SSH from your address only)", run(self._group), always=True),
            Step("aws-instance", "launch instance", run(self._launch), always=True),
            Step("aws-running", "wait for the instance to run", run(self._running), always=True),
        ]

    def _check(self, record: MachineRecord) -> None:
        cloud, spec = self.cloud(record), record.spec
        offer = self.offer(record)
        images.resolve_image(cloud, spec.resources.image, offer)
        network.find_subnet(cloud, spec)
        facts = self._facts(record)
        spot = facts.spot = spec.resources.spot
        facts.instance_type, facts.hourly_usd = offer.instance_type, offer.hourly(spot)
        self.say(
            f"  {offer.instance_type}: {offer.vcpus} vCPUs, {offer.memory_gib:g} GiB"
            + (f", {offer.accelerator_count:g} x {offer.accelerator}" if offer.accelerator else "")
            + f", ${facts.hourly_usd:.4f}/h{' (spot)' if spot else ''}"
        )
        if self.confirm is not None and not self.confirm(self.quote(record)):
            raise RoostError(f"'{record.name}' not made: you did not confirm; nothing was created")

    def quote(self, record: MachineRecord) -> str:
        """The offer a new instance gets, with its region, spot or not, and $/h."""
        offer, spot = self.offer(record), record.spec.resources.spot
        return (
            f"{offer.instance_type} in {offer.region}"
            f" ({offer.vcpus} vCPUs, {offer.memory_gib:g} GiB"
            + (f", {offer.accelerator_count:g} x {offer.accelerator}" if offer.accelerator else "")
            + f"), {'spot' if spot else 'on-demand'}, ${offer.hourly(spot):.4f}/h"
        )

    def offer(self, record: MachineRecord) -> Offer:
        """The cheapest offer fitting the spec's resources (or its pinned type), in the machine's
        region, or in every region while a new machine's region is open."""
        if record.name not in self._offers:
            region = self._fixed_region(record) or ANY_REGION
            self._offers[record.name] = resolve_offer(self._resources(record).model_copy(update={"region": region}))
        return self._offers[record.name]

    @staticmethod
    def _resources(record: MachineRecord) -> Resources:
        resources = record.spec.resources
        if not (resources.cpus or resources.memory_gib or resources.accelerators or resources.instance_type):
            # nothing asked: a machine that runs a notebook comfortably, not a 0.5 GiB nano
            resources = resources.model_copy(update=DEFAULT_RESOURCES)
        return resources

    def _key_pair(self, record: MachineRecord) -> None:
        self._facts(record).key_pair = keys.ensure_key_pair(self.cloud(record), record.spec, keys.owner_id())

    def _group(self, record: MachineRecord) -> None:
        cloud, spec = self.cloud(record), record.spec
        subnet = network.find_subnet(cloud, spec)
        ssh_from = network.caller_cidrs(spec, subnet)
        facts, owner, vpc = self._facts(record), keys.owner_id(), subnet["VpcId"]
        facts.security_group = network.ensure_security_group(cloud, spec, owner, vpc, ssh_from)
        if spec.aws_cluster:
            facts.cluster_group = cluster.ensure_cluster_group(cloud, spec.aws_cluster, owner, vpc)
            facts.placement_group = placement.ensure_placement_group(cloud, spec, owner)

    def _launch(self, record: MachineRecord) -> None:
        facts, spec = self._facts(record), record.spec
        found = self._instance(record, fresh=True)
        if found is None:
            offer = self.offer(record)
            try:
                found = self._run(record, offer, spot=spec.resources.spot)
            except AwsError as exc:
                if not (spec.resources.spot and instances.is_capacity_error(exc)):
                    raise
                on_demand = resolve_offer(self._resources(record).model_copy(update={"spot": False}))
                self.say(
                    f"  spot {offer.instance_type} refused ({exc.code}); launching on-demand "
                    f"{on_demand.instance_type} at ${on_demand.price:.4f}/h instead"
                )
                offer = on_demand
                found = self._run(record, offer, spot=False)
            self._instances[record.name] = found
            facts.instance_type = offer.instance_type
            facts.spot = found.get("InstanceLifecycle") == "spot"
            facts.hourly_usd = offer.hourly(facts.spot)  # what it costs as launched
        facts.instance_id = found["InstanceId"]

    def _run(self, record: MachineRecord, offer: Offer, *, spot: bool) -> dict[str, Any]:
        """Launch one instance of ``offer``, its host key pinned first."""
        facts, cloud, spec = self._facts(record), self.cloud(record), record.spec
        image_id, root_device = images.resolve_image(cloud, spec.resources.image, offer)
        private, public = keys.new_host_key(record.name)
        # pinned before the instance exists: the first connection is verified
        keys.pin_host_key(keys.known_hosts(), keys.host_key_alias(record.name), public)
        assert facts.security_group and facts.key_pair
        owner = keys.owner_id()
        plan = instances.LaunchPlan(
            spec=spec,
            owner=owner,
            offer=offer,
            image_id=image_id,
            root_device=root_device,
            subnet_id=network.find_subnet(cloud, spec)["SubnetId"],
            group_ids=(facts.security_group, *([facts.cluster_group] if facts.cluster_group else [])),
            key_name=facts.key_pair,
            user_data=user_data(
                record.name, private, public, shared=spec.share, spot=spec.resources.spot, user=spec.aws.user
            ),
            token=hashlib.sha256(f"{owner}/{record.name}/{record.created_at}".encode()).hexdigest()[:32],
            placement_group=facts.placement_group,
        )
        return instances.launch(cloud, plan, spot=spot)

    def _running(self, record: MachineRecord) -> None:
        facts, cloud = self._facts(record), self.cloud(record)
        instance = self._instance(record, fresh=True)
        if instance is None:
            raise AwsError(
                f"machine '{record.name}' has no instance any more",
                code="InstanceTerminated",
                hint=f"run `roost down {record.name}`, then `roost up` again",
            )
        if instance["State"]["Name"] in ("stopping", "stopped"):
            instances.wait_state(cloud, instance["InstanceId"], "stopped")
            cloud.call("start the instance", cloud.ec2.start_instances, InstanceIds=[instance["InstanceId"]])
        instance = instances.wait_state(cloud, instance["InstanceId"], "running")
        self._instances[record.name] = instance
        if facts.running_since is None:
            facts.running_since = time.time()
        if instances.address(instance, record.spec.connect) is None:
            raise AwsError(
                f"instance {instance['InstanceId']} has no {record.spec.connect} address",
                hint="use 'connect: private' (over a VPN or bastion) or a subnet that gives public IPs",
            )
        self.wait_ready(record)

    # --- the contract ---------------------------------------------------------------------
    def provision(self, record: MachineRecord) -> MachineFacts:
        """Probe the machine (SSH answered with the pinned host key in the step before) and make
        roost's directory there."""
        return self.probe_and_prepare(record, self.target(record).hostname)

    def wait_ready(self, record: MachineRecord, timeout: float = 300.0) -> None:
        """Until SSH answers with the pinned host key and the key pair logs in; the first time,
        the machine's own host key is pinned and checked with a new connection."""
        deadline, delay = time.monotonic() + timeout, 0.2
        while True:
            runner = SshRunner(self.target(record))
            try:
                runner.run("true", timeout=30)
                if keys.adopt_machine_host_key(runner, keys.known_hosts(), keys.host_key_alias(record.name)):
                    runner.close()  # the next connection is verified with the machine's own key
                    continue
                return
            except HostError:
                runner.close()
                if time.monotonic() > deadline:
                    raise  # a host key that never matches stays a security error
                time.sleep(delay)  # soon after a quick boot, then every 2 s (EC2 takes a minute)
                delay = min(delay * 2, 2.0)

    def target(self, record: MachineRecord) -> SshTarget:
        """The instance's current address, roost's key and the pinned host key (under the name)."""
        instance = self._instance(record)
        address = instances.address(instance, record.spec.connect) if instance else None
        if address is None:
            raise BackendError(
                f"machine '{record.name}' has no address (its instance is not running)",
                hint=f"`roost start {record.name}` or `roost up`",
            )
        key, _ = keys.login_key(record.spec)
        return SshTarget(
            label=address,
            hostname=address,
            user=record.spec.aws.user,
            port=22,
            key=str(key),
            known_hosts=str(keys.known_hosts()),
            control_dir=control_dir(),
            host_key_alias=keys.host_key_alias(record.name),
        )

    def peer_address(self, record: MachineRecord) -> str:
        """The private address: a cluster's members reach each other inside the VPC."""
        instance = self._instance(record)
        return str(instance["PrivateIpAddress"]) if instance else self.address(record)

    def raw_state(self, record: MachineRecord) -> str:
        """The instance's EC2 state ('none' when it has none)."""
        instance = self._instance(record, fresh=True)
        return instance["State"]["Name"] if instance else "none"

    def stop(self, record: MachineRecord) -> None:
        """Stop the instance (its disk is kept; only storage is billed)."""
        tunnel.close_tunnel(record.name)
        instance = self._instance(record, fresh=True)
        if instance is None:
            return
        if instance["State"]["Name"] == "running":
            self.runner(record).close()
        cloud = self.cloud(record)
        cloud.call("stop the instance", cloud.ec2.stop_instances, InstanceIds=[instance["InstanceId"]])
        instances.wait_state(cloud, instance["InstanceId"], "stopped")
        self._instances.pop(record.name, None)
        self._bank_running_time(record)

    def _bank_running_time(self, record: MachineRecord, until: float | None = None) -> None:
        facts = self._facts(record)
        if facts.running_since is not None:
            facts.running_seconds += max(0.0, (until or time.time()) - facts.running_since)
            facts.running_since = None

    def bank_stopped(self, record: MachineRecord) -> None:
        """Billing ends when EC2 says the instance stopped (an autostop, a budget), not when seen."""
        self._bank_running_time(record, instances.stopped_at(self._instances.get(record.name) or {}))

    def start(self, record: MachineRecord) -> None:
        """Start the stopped instance; its address may change (roost looks it up at each use)."""
        self._running(record)

    def terminate(self, record: MachineRecord) -> None:
        """Terminate the instance and delete its security group, key pair and keys."""
        for step in self.terminate_steps(record):
            step.action()

    def terminate_steps(self, record: MachineRecord) -> list[Step]:
        """down as recorded steps: terminate (and wait), delete the group, delete the key pair."""
        return [
            Step("aws-terminate", "terminate the instance", lambda: self._terminate_instance(record), always=True),
            Step(
                "aws-delete-security-group",
                "delete the security group",
                lambda: self._delete_group(record),
                always=True,
            ),
            Step("aws-delete-key-pair", "delete the key pair", lambda: self._delete_key_pair(record), always=True),
        ]

    def _terminate_instance(self, record: MachineRecord) -> None:
        tunnel.close_tunnel(record.name, forget=True)
        instance = self._instance(record, fresh=True)
        if instance is None:
            return
        if instance["State"]["Name"] == "running":
            self.runner(record).close()
        cloud = self.cloud(record)
        cloud.call("terminate the instance", cloud.ec2.terminate_instances, InstanceIds=[instance["InstanceId"]])
        instances.wait_state(cloud, instance["InstanceId"], "terminated")
        self._instances.pop(record.name, None)
        self._bank_running_time(record)

    def _delete_group(self, record: MachineRecord) -> None:
        gc.delete_groups(self.cloud(record), keys.owner_id(), record.name)
        if record.spec.aws_cluster:
            cluster.release_cluster_group(self.cloud(record), record.spec.aws_cluster, keys.owner_id())
            placement.release_placement_group(self.cloud(record), record.spec, keys.owner_id())

    def _delete_key_pair(self, record: MachineRecord) -> None:
        gc.delete_key_pairs(self.cloud(record), keys.owner_id(), record.name)
        keys.forget_login_key(record.name)
        keys.unpin_host_key(keys.known_hosts(), keys.host_key_alias(record.name))

    def poweroff_command(self) -> str | None:
        """Halt the OS: EC2 then stops the instance (or terminates it, for ``autostop: {down: true}``),
        as its instance-initiated shutdown behaviour was set at launch."""
        return os.environ.get(POWEROFF_ENV) or "sudo -n shutdown -h now || sudo -n systemctl poweroff"

    def set_autostop_down(self, record: MachineRecord, down: bool) -> None:
        """The instance's shutdown behaviour: terminate (``down``) or stop, as at launch. A spot
        instance keeps "stop" (AWS decides its end), so ``down`` is refused for it."""
        facts = self._facts(record)
        if down and facts.spot:
            raise BackendError(f"'{record.name}' is a spot instance: its autostop stops it", hint="leave out --down")
        instance = self._instance(record, fresh=True)
        if instance is None:
            raise BackendError(f"machine '{record.name}' has no instance", hint=f"run `roost up` for '{record.name}'")
        cloud = self.cloud(record)
        cloud.call(
            "set what an autostop does",
            cloud.ec2.modify_instance_attribute,
            InstanceId=instance["InstanceId"],
            Attribute="instanceInitiatedShutdownBehavior",
            Value="terminate" if down else "stop",
        )

    def billed_seconds(self, record: MachineRecord) -> float:
        """Seconds the instance has run (and been billed) so far, as roost saw it."""
        facts = record.facts.cloud
        if facts is None:
            return 0.0
        running = time.time() - facts.running_since if facts.running_since is not None else 0.0
        return facts.running_seconds + max(0.0, running)
