"""What machines cost, and what was left behind: ``roost cost`` and ``roost gc``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from roost.backends import get_backend
from roost.catalog.offers import OfferCache, save_cache, snapshot_offers
from roost.errors import RoostError
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import State
from roost.paths import roost_home
from roost.session import MachineSession


class MachineCost(BaseModel):
    """One machine's price and spend so far (0 for machines nothing bills)."""

    name: str
    backend: str
    state: MachineState
    instance_type: str | None
    hourly_usd: float
    hours: float
    spend_usd: float


def cost() -> list[MachineCost]:
    """Every known machine with its $/h and what it has cost so far (running time x price).

    A machine priced by ``resources.price_per_hour`` (one you rent over SSH) is billed for the
    running time its agent metered, so stopped time is never counted; when its agent cannot be
    asked, its spend shows as 0 for now."""
    state = State()
    try:
        records = state.machines()
        return [machine_cost(record, metered_seconds(state, record)) for record in records]
    finally:
        state.close()


def metered_seconds(state: State, record: MachineRecord) -> float | None:
    """The running time the agent of a machine priced by the spec has counted (None: not
    such a machine, or its agent did not answer)."""
    if record.spec.resources.price_per_hour is None or record.backend == "aws" or not record.facts.home:
        return None
    try:
        status = MachineSession(state, record).agent_status()
    except RoostError:
        return None
    return status.meter.seconds if status else None


def machine_cost(record: MachineRecord, metered: float | None = None) -> MachineCost:
    """One machine's $/h and spend so far, from its record and the seconds its agent ``metered``
    (for a machine priced by its spec; no machine is asked here)."""
    cloud = record.facts.cloud
    seconds = get_backend(record.backend).billed_seconds(record)
    hourly = cloud.hourly_usd if cloud else 0.0
    if record.spec.resources.price_per_hour is not None:
        hourly = record.spec.resources.price_per_hour
        seconds = seconds if metered is None and record.backend == "aws" else (metered or 0.0)
    return MachineCost(
        name=record.name,
        backend=record.backend,
        state=record.state,
        instance_type=cloud.instance_type if cloud else None,
        hourly_usd=hourly,
        hours=seconds / 3600,
        spend_usd=hourly * seconds / 3600,
    )


def refresh_offers(region: str | None = None, *, say: Callable[[str], None] = lambda line: None) -> OfferCache:
    """Fetch the region's offers from AWS (instance types, spot and on-demand prices) and keep
    them, dated, under ROOST_HOME: ``roost offers`` and spec resolution use them from then on."""
    from roost.backends.aws.cloud import Cloud  # optional dependency: boto3, for AWS only
    from roost.backends.aws.pricing import fetch_offers  # optional dependency: boto3, for AWS only

    cloud = Cloud(region)
    try:
        known = {offer.instance_type: offer for offer in snapshot_offers(cloud.region)}
    except RoostError:
        known = {}  # no snapshot for this region: only the Price List API can price it
    found, source = fetch_offers(cloud, known, say)
    cache = OfferCache(
        region=cloud.region, fetched_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), source=source, offers=found
    )
    save_cache(cache)
    return cache


class GcResult(BaseModel):
    """Resources roost created that no machine in the state database owns; deleted or not."""

    leftovers: list[dict[str, str]]
    deleted: bool


OWNER_ID = re.compile(r"[a-z0-9]{1,16}-[0-9a-f]{8}")
"""An owner tag as keys.owner_id writes it: the user's name and this installation's random id."""


def gc(*, regions: list[str] | None = None, yes: bool = False) -> GcResult:
    """List (and with ``yes``, delete) AWS resources tagged by this roost with no machine in state.

    Looks in ``regions``, else in us-east-1 and every region a known machine uses.
    """
    from roost.backends.aws import gc as aws_gc  # optional dependency: boto3, for AWS only
    from roost.backends.aws.cloud import Cloud  # optional dependency: boto3, for AWS only
    from roost.backends.aws.cluster import cluster_tag
    from roost.backends.aws.keys import owner_id  # optional dependency: boto3, for AWS only

    owner = owner_id()
    if not OWNER_ID.fullmatch(owner):
        raise RoostError(
            f"this ROOST_HOME's owner id '{owner}' has no random part, so gc could take another "
            "installation's resources for leftovers; nothing was listed or deleted",
            hint=f"delete them by hand (tag roost:owner={owner}), or restore {roost_home() / 'owner'}",
        )
    state = State()
    try:
        records = state.machines()
    finally:
        state.close()
    known = {record.name for record in records if record.backend == "aws"}
    known |= {cluster_tag(r.spec.aws_cluster) for r in records if r.backend == "aws" and r.spec.aws_cluster}
    wanted = regions or sorted(
        {"us-east-1", *(r.spec.resources.region or "us-east-1" for r in records if r.backend == "aws")}
    )
    leftovers = []
    for region in wanted:
        cloud = Cloud(region)
        found = [r for r in aws_gc.owned(cloud, owner) if r.machine not in known]
        if yes and found:
            try:
                aws_gc.delete(cloud, found)
            except RoostError as exc:
                exc.hint = (exc.hint + "; " if exc.hint else "") + "run `roost gc --yes` again"
                raise
        leftovers += [r.model_dump() for r in found]
    return GcResult(leftovers=leftovers, deleted=yes)
