"""The spec: one YAML file describes a machine and what runs on it, as typed models.

Loading (with file/line-marked errors) lives in :mod:`roost.spec.loader`; this module is
only the shape of a valid spec. Every model forbids unknown fields, so a typo is an error
that suggests the field meant, never a silently ignored setting.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from roost.errors import SpecError
from roost.spec.apps import (
    APP_TYPES,
    App,
    AppBase,
    CommandApp,
    JupyterApp,
    LabelStudioApp,
    MlflowApp,
    RoostServerApp,
    StreamlitApp,
    TensorboardApp,
)
from roost.spec.base import SSH_WORD, Duration, Package, Strict, parse_duration, parse_memory
from roost.spec.resources import Resources
from roost.spec.service import BackupSchedule, Probe, ReplicaResources, ServiceOptions
from roost.spec.watch import Budget, NotifyTarget

__all__ = [
    "APP_TYPES",
    "NAME_PATTERN",
    "App",
    "AppBase",
    "BackendKind",
    "BackupSchedule",
    "Budget",
    "CommandApp",
    "Duration",
    "HostSpec",
    "JupyterApp",
    "LabelStudioApp",
    "MlflowApp",
    "Probe",
    "ReplicaResources",
    "Resources",
    "RoostServerApp",
    "ServiceOptions",
    "Spec",
    "StreamlitApp",
    "Strict",
    "TensorboardApp",
    "parse_duration",
    "parse_memory",
]

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BackendKind(str, Enum):
    """Where a machine lives."""

    local = "local"
    ssh = "ssh"
    aws = "aws"


HOST_SHORTHAND = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<address>[^@:\s]+|\[[0-9a-fA-F:]+\])(?::(?P<port>\d+))?$")


class HostSpec(Strict):
    """A machine reached over SSH: an address (or ~/.ssh/config alias), user, key and port.

    ``host_key`` is the fingerprint (``SHA256:...``) of the host's key, checked at first
    contact; without it, first contact needs ``--accept-new-host-key``.
    """

    address: str = Field(min_length=1)
    user: str | None = None
    key: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    host_key: str | None = Field(default=None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$")
    connect_timeout: int = Field(default=10, ge=1, le=300)

    @field_validator("address", "user")
    @classmethod
    def _ssh_word(cls, value: str | None) -> str | None:
        if value is not None and not SSH_WORD.fullmatch(value):
            raise ValueError(f"'{value}' is not a host address, alias or user name (no spaces, not starting with '-')")
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            match = HOST_SHORTHAND.match(value.strip())
            if not match:
                raise ValueError(f"'{value}' is not a host; write it like user@host, host:2222 or an ssh alias")
            parsed = {k: v for k, v in match.groupdict().items() if v}
            if "port" in parsed:
                parsed["port"] = int(parsed["port"])
            return parsed
        return value


class Autostop(Strict):
    """Stop (or take down) the machine after it has been idle this long."""

    idle_seconds: Duration = Field(alias="idle")
    down: bool = False

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return {"idle": value}
        return value


CIDR = r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"


class AwsOptions(Strict):
    """Where in AWS a machine goes and who may reach it (backend ``aws`` only).

    ``ssh_from`` defaults to the caller's own address (/32); ``share_from`` (who reaches
    port 443 of a shared app) defaults to everyone, since the gateway has TLS and a login.
    """

    subnet: str | None = Field(default=None, pattern=r"^subnet-[0-9a-f]+$")
    ssh_from: list[Annotated[str, Field(pattern=CIDR)]] | None = None
    share_from: list[Annotated[str, Field(pattern=CIDR)]] = Field(default_factory=lambda: ["0.0.0.0/0"])
    user: str = "ubuntu"
    """Who logs in (the image's default user: ubuntu on Ubuntu and the Deep Learning AMI)."""
    public_key: str | None = None
    """A public key file of yours to import as the key pair (its private half must sit beside it)."""
    cluster: str | None = Field(default=None, pattern=NAME_PATTERN)
    """Machines with the same cluster reach each other on every port (a security group of the
    cluster's own lets its members in); a multi-node job's nodes are the cluster named after it."""


class Spec(Strict):
    """A whole spec: a named machine, where it lives, and what runs on it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    backend: BackendKind = BackendKind.local
    resources: Resources = Field(default_factory=Resources)
    app: App | None = None
    workdir: str | None = None
    file_mounts: dict[str, str] = Field(default_factory=dict)
    envs: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    setup: str | None = None
    run: str | None = None
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)
    autostop: Autostop | None = None
    hosts: list[HostSpec] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    share: bool = False
    domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
    recover: bool = False
    num_nodes: int = Field(default=1, ge=1, le=64)
    packages: list[Package] = Field(default_factory=list)
    checkpoint_every_seconds: Duration = Field(default=30.0, alias="checkpoint_every")
    installs: Literal["auto", "index", "wheelhouse"] = "auto"
    backup_to: str | None = Field(default=None, pattern=r"^(file|s3)://.+")
    """Where `roost backup` keeps backups: file:///dir (default ~/.roost/backups) or s3://bucket/prefix."""
    backup: BackupSchedule | None = None
    """Scheduled backups by the agent (apps with data: Label Studio)."""
    service: ServiceOptions | None = None
    """Run the app as replicas behind a load balancer (``roost serve``)."""
    connect: Literal["public", "private"] = "public"
    aws: AwsOptions = Field(default_factory=AwsOptions)
    budget: Budget | None = None
    on_interrupt: Literal["SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "none"] = "SIGTERM"
    """What the agent sends a spot machine's jobs on EC2's two-minute interruption notice."""
    notify: list[NotifyTarget] = Field(default_factory=list)
    """Where events are sent (apprise URLs, or $NAME for one in the environment at `roost up`)."""
    _source: str = PrivateAttr(default="<spec>")

    @property
    def source(self) -> str:
        """Where this spec came from (a file path, or '<command line>'), for messages."""
        return self._source

    def part(self, name: str, *, what: str, host: int | None, **changes: object) -> Spec:
        """The spec of one machine of several made from this one (a service's worker, a job's
        node): named ``name``, on the spec's host ``host`` (None: hosts unchanged), with
        ``changes``; messages still point at this spec's file. ``what`` names it in errors."""
        if not re.match(NAME_PATTERN, name):
            raise SpecError(
                f"{what} name '{name}' is too long",
                file=self.source,
                field="name",
                hint="use a name of at most 36 characters for a spec with several machines",
            )
        update: dict[str, object] = {"name": name, **changes}
        if host is not None:
            update["hosts"] = [self.hosts[host]]
        made = self.model_copy(update=update)
        made._source = self.source
        return made

    @property
    def aws_cluster(self) -> str | None:
        """The cluster this AWS machine is in: ``aws.cluster``, else its spread service's (the
        gateway machine and its workers reach each other inside it)."""
        if self.aws.cluster:
            return self.aws.cluster
        if self.service and (self.service.worker_of or self.service.machines > 1):
            return self.service.worker_of or self.name
        return None

    @property
    def machine_budget(self) -> Budget | None:
        """The budget each machine's agent keeps: a service spread over N machines gives each
        1/N of it, so the service as a whole stays within ``budget.max_usd``."""
        if self.budget and self.service and self.service.machines > 1:
            return self.budget.model_copy(update={"max_usd": self.budget.max_usd / self.service.machines})
        return self.budget

    def same_as(self, other: Spec) -> bool:
        """True when both describe the same machine; where each was read from does not matter."""
        return self.model_dump() == other.model_dump()

    @model_validator(mode="before")
    @classmethod
    def _service_run(cls, data: object) -> object:
        """A service given as ``setup`` + ``run`` (no ``app``): ``run`` is its replicas' command."""
        if isinstance(data, dict) and data.get("service") is not None and data.get("run") and not data.get("app"):
            command = data["run"]
            data = {key: value for key, value in data.items() if key != "run"}
            data["app"] = {"type": "command", "command": command}
        return data

    @field_validator("app", mode="before")
    @classmethod
    def _app_shorthand(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in APP_TYPES:
                raise ValueError(f"unknown app '{value}'; choose one of: {', '.join(APP_TYPES)}")
            return {"type": value}
        return value

    @field_validator("envs", mode="before")
    @classmethod
    def _envs(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, item in value.items():
                if not ENV_NAME.match(str(key)):
                    raise ValueError(f"'{key}' is not a valid environment variable name")
                if isinstance(item, dict | list) or item is None:
                    raise ValueError(f"the value of {key} must be a string or a number")
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, names: list[str]) -> list[str]:
        for name in names:
            if not ENV_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid secret name (an environment variable name)")
        return names

    @model_validator(mode="after")
    def _placement(self) -> Spec:
        if self.resources.placement and self.backend is not BackendKind.aws:
            raise ValueError(
                "'resources.placement: cluster' asks EC2 for a cluster placement group: it is for backend "
                f"'aws', not '{self.backend.value}'"
            )
        if self.resources.placement and self.num_nodes == 1 and self.aws_cluster is None:
            raise ValueError(
                "'resources.placement: cluster' places the machines of a cluster close together: use it "
                "with num_nodes > 1, a service spread over machines (service.machines), or aws.cluster"
            )
        return self

    @model_validator(mode="after")
    def _overlaps(self) -> Spec:
        clash = set(self.envs) & set(self.secrets)
        if clash:
            raise ValueError(f"{sorted(clash)} appear in both envs and secrets; keep each in one place")
        if self.backend is BackendKind.ssh and not self.hosts:
            raise ValueError("backend 'ssh' needs 'hosts:' (for example: hosts: [ubuntu@10.0.0.5])")
        if self.backend is BackendKind.ssh and self.num_nodes > len(self.hosts):
            raise ValueError(
                f"num_nodes is {self.num_nodes} but only {len(self.hosts)} host(s) are listed; list one host per node"
            )
        if self.backend is not BackendKind.aws and (self.aws != AwsOptions() or self.connect != "public"):
            raise ValueError(f"'aws:' and 'connect:' are for backend 'aws', not '{self.backend.value}'")
        if self.share and self.backend is BackendKind.local:
            raise ValueError(
                "'share: true' is for machines others reach over the network (backend 'ssh' or 'aws'); "
                "on this computer `roost open` gives you the app"
            )
        if self.domain and not self.share:
            raise ValueError("'domain' names the shared address: it needs 'share: true'")
        if self.service and (self.app is None or self.app.type not in ("command", "streamlit")):
            raise ValueError(
                "'service:' runs replicas of an app of type command or streamlit; "
                f"this spec's app is {self.app.type if self.app else 'missing'}"
            )
        if (
            self.service
            and self.service.machines > 1
            and (
                self.backend is BackendKind.local
                or (self.backend is BackendKind.ssh and len(self.hosts) < self.service.machines)
            )
        ):
            raise ValueError(
                f"service.machines is {self.service.machines}: it needs backend 'aws', or 'ssh' with at "
                f"least that many hosts (this spec has {len(self.hosts)} on '{self.backend.value}')"
            )
        if self.service and self.app and self.app.port:
            raise ValueError("a service's replicas get their own ports; remove app.port")
        if self.hosts and self.backend is not BackendKind.ssh:
            raise ValueError(f"'hosts:' is only for backend 'ssh', not '{self.backend.value}'")
        return self

    @model_validator(mode="after")
    def _kept_promises(self) -> Spec:
        """What recovery and a budget need from the machine."""
        if (
            self.recover
            and self.backend is not BackendKind.aws
            and (self.backend is BackendKind.local or len(self.hosts) < 2)
        ):
            raise ValueError(
                "'recover: true' needs another machine to move to: backend 'ssh' with two or more hosts, or 'aws'"
            )
        if self.recover and self.num_nodes > 1:
            raise ValueError("'recover: true' is for single-node jobs (num_nodes: 1)")
        if self.budget and self.backend is not BackendKind.aws and self.resources.price_per_hour is None:
            raise ValueError(
                f"a budget on a '{self.backend.value}' machine needs its price: add resources.price_per_hour "
                "(USD per hour; on AWS the offer gives it)"
            )
        return self

    @model_validator(mode="after")
    def _paths_inside_workdir(self) -> Spec:
        """Outputs and file mounts stay inside the machine's workdir."""
        for output in self.outputs:
            if output.startswith(("/", "~")) or ".." in output.replace("\\", "/").split("/"):
                raise ValueError(f"output '{output}' is outside the machine's workdir; use a relative path")
        for mount in self.file_mounts:
            parts = mount.replace("\\", "/").split("/")
            if mount.startswith(("/", "~")) or ".." in parts:
                raise ValueError(
                    f"file_mounts target '{mount}' is outside the machine's workdir; "
                    "use a relative path such as data/train"
                )
        return self
