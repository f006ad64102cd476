"""Spec models for what a machine must have: CPUs, memory, GPUs, an instance type, spot, price."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from roost.spec.base import Strict, parse_memory

ACCELERATOR = re.compile(r"^(?:([A-Za-z][A-Za-z0-9-]*)(?::(\d+))?|(\d+))$")


class Accelerators(Strict):
    """A GPU request: a type and a count (``T4:1``), or only a count (``1``)."""

    name: str | None = None
    count: int = 1

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"count": value}
        if isinstance(value, str):
            match = ACCELERATOR.match(value.strip())
            if not match:
                raise ValueError(f"'{value}' is not an accelerator request; write it like T4:1, A100:8 or 1")
            if match.group(3):
                return {"count": int(match.group(3))}
            return {"name": match.group(1), "count": int(match.group(2) or 1)}
        return value

    @field_validator("count")
    @classmethod
    def _positive(cls, count: int) -> int:
        if count < 1:
            raise ValueError("the accelerator count must be at least 1")
        return count


class Resources(Strict):
    """What the machine must have. Minimums; ``instance_type`` pins an exact type."""

    cpus: int | None = Field(default=None, ge=1, le=1024)
    memory_gib: float | None = Field(default=None, alias="memory", gt=0)
    accelerators: Accelerators | None = None
    instance_type: str | None = None
    spot: bool = False
    disk_gb: int = Field(default=50, ge=8, le=65536)
    region: str | None = None
    image: str | None = None
    price_per_hour: float | None = Field(default=None, ge=0, le=10_000)
    """What the machine costs in USD per hour where no offer says (SSH machines you rent)."""
    placement: Literal["cluster"] | None = None
    """``cluster``: the machines of one cluster (a multi-node job's nodes, a spread service's
    machines) are launched into one EC2 cluster placement group, close together for low latency
    between them (AWS only; burstable types such as t3 cannot be placed, so none is chosen)."""
    spot_fallback_after: int | None = Field(default=None, ge=1, le=100)
    """A managed job's spot machine is replaced by an on-demand one after this many losses
    (written ``spot: {fallback: on-demand, after: N}``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _spot_fallback(cls, value: object) -> object:
        if isinstance(value, dict) and isinstance(value.get("spot"), dict):
            options = dict(value["spot"])
            if options.pop("fallback", "on-demand") != "on-demand" or set(options) - {"after"}:
                raise ValueError("spot is true, false, or {fallback: on-demand, after: N}")
            value = {**value, "spot": True, "spot_fallback_after": options.get("after", 1)}
        return value

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().rstrip("+").isdigit():
            return int(value.strip().rstrip("+"))
        return value

    @field_validator("memory_gib", mode="before")
    @classmethod
    def _memory(cls, value: object) -> object:
        return parse_memory(value)
