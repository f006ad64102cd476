"""What roost knows about a machine: its lifecycle state and its record in the state DB."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field, model_validator

from roost.spec.model import Spec


class MachineState(str, Enum):
    """roost's own lifecycle states; each backend maps its provider's states onto these."""

    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPED = "stopped"
    UNREACHABLE = "unreachable"
    TERMINATED = "terminated"


class CloudFacts(BaseModel):
    """What roost created for a cloud machine and what it costs."""

    region: str
    instance_type: str | None = None
    hourly_usd: float = 0.0
    spot: bool = False
    instance_id: str | None = None
    key_pair: str | None = None
    security_group: str | None = None
    cluster_group: str | None = Field(default=None, description="the security group its cluster's members share")
    placement_group: str | None = Field(default=None, description="its cluster's placement group (placement: cluster)")
    running_since: float | None = Field(default=None, description="epoch seconds of the last start seen")
    running_seconds: float = Field(default=0.0, description="billed seconds of earlier runs")


class AppFacts(BaseModel):
    """What roost learned about the machine's app."""

    port: int | None = Field(default=None, description="the app's port on the machine's 127.0.0.1")
    postgres_bindir: str | None = Field(default=None, description="PostgreSQL's programs, for database: postgres")


class GatewayFacts(BaseModel):
    """The gateway (Caddy) in front of a shared app or a service."""

    health_port: int | None = Field(default=None, description="Caddy's health endpoint on 127.0.0.1")
    tls_leaf: str | None = Field(
        default=None, description="the leaf certificate's file name (by its fingerprint) when roost's CA signs it"
    )


class ServiceFacts(BaseModel):
    """A service's replicas and routes as roost last set them (the controller owns them while it runs)."""

    replica_names: list[str] = Field(default_factory=list, description="the serving replicas (agent names)")
    replica_ports: list[int] = Field(default_factory=list, description="their ports, in the same order")
    replica_remote: dict[str, tuple[str, int]] = Field(
        default_factory=dict,
        description="replicas on other machines: name -> (machine, port there); "
        "replica_ports holds the gateway's tunnel port for them",
    )
    route_replicas: dict[str, list[tuple[str, int]]] = Field(
        default_factory=dict, description="a route path -> its serving replicas (name, port)"
    )
    route_release: dict[str, str] = Field(default_factory=dict, description="route path -> its release fingerprint")
    route_ports: dict[str, int] = Field(default_factory=dict, description="route path -> its 127.0.0.1 listener")
    route_retiring: list[tuple[str, int]] = Field(
        default_factory=list, description="route replicas to stop once the balancer left them"
    )
    replica_serial: int = Field(default=0, description="the number of the last replica made")
    replica_release: str | None = Field(default=None, description="fingerprint of the replicas' definition")


_MOVED = {  # a record written before the facts were split: flat field -> (part, field)
    "app_port": ("app", "port"), "postgres_bindir": ("app", "postgres_bindir"),
    "gateway_health_port": ("gateway", "health_port"),
    **{name: ("service", name) for name in ServiceFacts.model_fields},
}  # fmt: skip


class MachineFacts(BaseModel):
    """Facts learned while bringing a machine up, kept so later commands need not ask: the
    machine's own, and those of its app, gateway and service in narrow parts."""

    home: str | None = Field(default=None, description="roost's directory on the machine")
    runs_as_root: bool | None = None
    host: str | None = Field(default=None, description="the SSH host in use (as the spec names it)")
    python_version: str | None = None
    arch: str | None = None
    cloud: CloudFacts | None = None
    app: AppFacts = Field(default_factory=AppFacts)
    gateway: GatewayFacts = Field(default_factory=GatewayFacts)
    service: ServiceFacts = Field(default_factory=ServiceFacts)

    @model_validator(mode="before")
    @classmethod
    def _split_flat_record(cls, data: object) -> object:
        """Read a record written before the split: its flat fields move into their parts."""
        if not isinstance(data, dict) or not any(key in _MOVED for key in data):
            return data
        data = dict(data)
        for old, (part, field) in _MOVED.items():
            if old in data:
                data.setdefault(part, {})[field] = data.pop(old)
        return data


class MachineRecord(BaseModel):
    """One machine in the state database. Never holds a secret's value."""

    name: str
    backend: str
    spec: Spec
    state: MachineState
    facts: MachineFacts = Field(default_factory=MachineFacts)
    created_at: float
    updated_at: float
