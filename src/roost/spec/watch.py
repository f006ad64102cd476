"""Spec models for the promises kept while no roost command runs: budgets and notifications."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from roost.spec.base import Strict

ENV_REFERENCE = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")
URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def _notify_target(value: str) -> str:
    """An apprise URL (``json://host/path``, ``slack://...``), or ``$NAME``: the URL is in the
    environment variable NAME at `roost up` (for URLs that hold a token: never kept in state)."""
    if ENV_REFERENCE.match(value) or URL_SCHEME.match(value):
        return value
    raise ValueError(
        "a notify target is an apprise URL (slack://..., discord://..., mailto://..., json://host/path) "
        "or $NAME for a URL kept in the environment variable NAME"
    )


NotifyTarget = Annotated[str, AfterValidator(_notify_target)]


class Budget(Strict):
    """Spend no more than ``max_usd`` on this machine, then ``stop`` it (or take it ``down``).

    The machine's own agent counts running time at the machine's price (the offer's on AWS,
    ``resources.price_per_hour`` elsewhere), so the cap holds with no roost command and no
    server running. A warning is sent at ``warn_at`` of the cap.
    """

    max_usd: float = Field(gt=0, le=1_000_000)
    then: Literal["stop", "down"] = "stop"
    warn_at: float = Field(default=0.8, gt=0, lt=1)


def redact(target: str) -> str:
    """A notify target as messages may show it: its scheme (or variable name), never its token."""
    if target.startswith("$"):
        return target
    return target.split("://", 1)[0] + "://…"
