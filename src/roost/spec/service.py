"""Spec models for what runs beside the app: scheduled backups and the app as a service."""

from __future__ import annotations

import re

from pydantic import ConfigDict, Field, field_validator, model_validator

from roost.spec.base import Duration, Strict, parse_memory


class BackupSchedule(Strict):
    """Backups the machine's agent takes by itself: every ``every``, the newest ``keep`` kept."""

    every_seconds: Duration = Field(alias="every")
    keep: int = Field(default=24, ge=1, le=10_000)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _not_too_often(self) -> BackupSchedule:
        if self.every_seconds < 10:
            raise ValueError("backup.every must be at least 10s")
        return self


class Probe(Strict):
    """A replica's readiness probe: GET ``path`` every ``interval``, failing after ``timeout``."""

    path: str = Field(default="/", pattern=r"^/")
    interval_seconds: Duration = Field(default=2.0, alias="interval")
    timeout_seconds: Duration = Field(default=1.0, alias="timeout")
    ready_within_seconds: Duration = Field(default=60.0, alias="ready_within")
    """How long a new replica may take to answer its probe before roost gives up on it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReplicaResources(Strict):
    """What one replica needs; the machine must hold every replica (``max`` of them when autoscaling)."""

    cpus: float | None = Field(default=None, gt=0, le=1024)
    memory_gib: float | None = Field(default=None, alias="memory", gt=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("memory_gib", mode="before")
    @classmethod
    def _memory(cls, value: object) -> object:
        return parse_memory(value)


class ServiceRoute(Strict):
    """A second group of replicas under a path of the service's address (a model endpoint
    beside its dashboard): ``command`` with ``{port}``, the spec's packages on its PATH."""

    command: str = Field(min_length=1)
    replicas: int = Field(default=1, ge=1, le=16)
    probe: Probe = Field(default_factory=Probe)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServiceOptions(Strict):
    """The app as a service: replicas behind the gateway's load balancer.

    ``replicas`` fixes the count; ``min``/``max`` bound it (it starts at ``min``).
    ``sticky`` keeps a client on one replica by a cookie (on by default for Streamlit,
    whose session lives in one process's websocket).
    """

    replicas: int | None = Field(default=None, ge=1, le=64)
    min: int | None = Field(default=None, ge=1, le=64)
    max: int | None = Field(default=None, ge=1, le=64)
    probe: Probe = Field(default_factory=Probe)
    resources: ReplicaResources = Field(default_factory=ReplicaResources)
    sticky: bool | None = None
    target_rps: float = Field(default=50.0, gt=0)
    """Autoscaling (min < max): requests per second one replica should carry."""
    window_seconds: Duration = Field(default=30.0, alias="window")
    """The request rate is averaged over this window (autoscaling, and each replica's requests/s
    in ``roost serve status``)."""
    cooldown_seconds: Duration = Field(default=60.0, alias="cooldown")
    """Autoscaling: at least this long between two changes of the replica count."""
    machines: int = Field(default=1, ge=1, le=64)
    """Spread the replicas over this many machines: the spec's first ``machines`` hosts (backend
    ssh). The first is the gateway machine (balancer and controller); it holds replicas too."""
    routes: dict[str, ServiceRoute] = Field(default_factory=dict)
    """Path prefix -> a replica group served under it (the prefix is stripped); the app's replicas
    reach it at ``$ROOST_ROUTE_<NAME>`` (http://127.0.0.1:PORT on the gateway machine, no login)."""
    worker_of: str | None = None
    """Set by roost on a service's other machines: they hold replicas, the gateway runs them."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def autoscaled(self) -> bool:
        """True when the count may change between ``min`` and ``max``."""
        return self.min is not None and self.max is not None and self.max > self.min

    @model_validator(mode="after")
    def _counts(self) -> ServiceOptions:
        if self.replicas is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either 'replicas' or 'min'/'max', not both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is less than min ({self.min})")
        for path in self.routes:
            if not re.fullmatch(r"/[A-Za-z0-9_-]+", path):
                raise ValueError(f"route '{path}' must be one path segment such as /api")
        if self.routes and self.machines > 1:
            raise ValueError("'routes' are built for a service on one machine (machines: 1)")
        return self

    @property
    def initial(self) -> int:
        """How many replicas run at first."""
        return self.replicas or self.min or 1

    @property
    def most(self) -> int:
        """The most replicas that may run at once."""
        return self.replicas or self.max or self.initial
