"""The building blocks of spec models: strict models, durations, memory sizes, package names and SSH words."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gib|gb|g|mib|mb|m)?\s*(\+)?\s*$", re.IGNORECASE)


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, values are validated on set."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_duration(value: object) -> float:
    """Seconds in a duration written as ``90s``, ``30m``, ``2h``, ``1d`` or a number of minutes."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30m, 2h or 90s")
    if isinstance(value, int | float):
        seconds = float(value) * 60
    else:
        match = DURATION.match(str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration; write it like 30m, 2h or 90s")
        number, unit = float(match.group(1)), match.group(2) or "m"
        seconds = number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda seconds: f"{seconds:g}s", return_type=str),  # a bare number reads back as minutes
]
"""Seconds, written in a spec as 90s, 30m, 2h or a number of minutes."""


def parse_memory(value: object) -> object:
    """GiB in a memory size written as ``16``, ``16GiB`` or ``512MiB`` (other values pass through)."""
    if isinstance(value, str):
        match = MEMORY.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a memory size; write it like 16, 16GiB or 512MiB")
        number, unit = float(match.group(1)), (match.group(2) or "gib").lower()
        return number / 1024 if unit in ("mib", "mb", "m") else number
    return value


def _package(value: str) -> str:
    """A requirement as uv takes it: never an option (``-r file``, ``--index-url``), never two words."""
    if value.startswith("-") or not value.strip() or any(ch.isspace() for ch in value):
        raise ValueError(f"'{value}' is not a package name (a requirement such as numpy or torch==2.5)")
    return value


Package = Annotated[str, AfterValidator(_package)]
SSH_WORD = re.compile(r"[A-Za-z0-9_.%\[\]:][A-Za-z0-9_.%\[\]:-]*")
"""An SSH address, alias or user: never starting with '-' (ssh would read it as an option)."""
