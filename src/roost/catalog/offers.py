"""Offers from the shipped price snapshot: filter by need, cheapest first, resolve a spec.

The snapshot has six regions (``data/aws-offers.csv``, today's GPU and CPU families) and, for
us-east-1, the older families of the first snapshot (``data/aws-offers-us-east-1.csv``) that the
new one lacks. ``region: any`` searches every region: the cheapest offer decides where a machine
goes. Only GPUs count for a count-only request (``accelerators: 1``); a named request
(``T4:1``, ``Inferentia2:2``) matches that accelerator by name, case-insensitively. The CPU
architecture is inferred from the instance family (Graviton families are arm64).
"""

from __future__ import annotations

import csv
import difflib
import functools
import re
from pathlib import Path
from typing import NoReturn

from pydantic import BaseModel

from roost.errors import SpecError
from roost.paths import roost_home, write_private
from roost.spec.loader import spec_from_data
from roost.spec.model import Resources

DATA = Path(__file__).with_name("data")
REGIONAL = DATA / "aws-offers.csv"
OLD_US_EAST_1 = DATA / "aws-offers-us-east-1.csv"
ANY_REGION = "any"
NVIDIA_GPUS = {
    "t4", "t4g", "a10g", "m60", "v100", "v100-32gb", "k80", "k520", "a100", "a100-80gb",
    "l4", "l40s", "h100", "h200", "b200", "rtx pro server 6000",
}  # fmt: skip
GPUS = NVIDIA_GPUS | {"radeon pro v520"}
ARM_FAMILY = re.compile(r"^(a1|[a-z]+\d+[a-z]*g[a-z]*)$")
UNPLACEABLE_FAMILY = re.compile(r"^(t\d[a-z]*|mac\d.*|[a-z]+\d+[a-z]*-flex)$")
"""Families EC2 cannot put in a cluster placement group: burstable (t2, t3, t4g), Mac, flex."""


def can_be_placed(instance_type: str) -> bool:
    """True when EC2 can launch ``instance_type`` into a cluster placement group."""
    return not UNPLACEABLE_FAMILY.match(instance_type.split(".")[0])


class Offer(BaseModel):
    """One instance type in one region, with its prices in USD per hour."""

    instance_type: str
    region: str
    vcpus: int
    memory_gib: float
    accelerator: str | None
    accelerator_count: float
    """Whole accelerators, or a share of one (0.125, 0.25, 0.5 of an L4 on g6f)."""
    gpu_memory_gib: float | None
    price: float
    spot_price: float | None
    arch: str

    @property
    def is_gpu(self) -> bool:
        """True when its accelerators are GPUs."""
        return (self.accelerator or "").lower() in GPUS

    def hourly(self, spot: bool) -> float:
        """What an hour costs: the spot price when asked for and offered, else on-demand."""
        return self.spot_price if spot and self.spot_price is not None else self.price


class OfferQuery(BaseModel):
    """What a machine needs. Every field is a minimum or a match; None means any."""

    gpu: str | None = None
    gpu_count: int | None = None
    cpus: int | None = None
    memory_gib: float | None = None
    spot: bool = False
    arch: str | None = None
    region: str = "us-east-1"
    placeable: bool = False
    """Only types a cluster placement group takes (``resources.placement: cluster``)."""

    def matches(self, offer: Offer) -> bool:
        """True when the offer has all that is asked for."""
        kind = (offer.accelerator or "").lower()
        if self.gpu is not None and (kind != self.gpu.lower() or offer.accelerator_count < (self.gpu_count or 1)):
            return False
        if (
            self.gpu is None
            and self.gpu_count is not None
            and (kind not in NVIDIA_GPUS or offer.accelerator_count < self.gpu_count)
        ):
            return False
        if self.cpus is not None and offer.vcpus < self.cpus:
            return False
        if self.memory_gib is not None and offer.memory_gib < self.memory_gib:
            return False
        if self.spot and offer.spot_price is None:
            return False
        if self.placeable and not can_be_placed(offer.instance_type):
            return False
        return self.arch is None or offer.arch == self.arch


def _arch(instance_type: str) -> str:
    return "arm64" if ARM_FAMILY.match(instance_type.split(".")[0]) else "x86_64"


SNAPSHOT_SOURCE = "roost's snapshot of skypilot-catalog v8 (six regions, extracted 2026-12-01)"


class OfferCache(BaseModel):
    """Offers fetched from AWS for one region, with when and from where."""

    region: str
    fetched_at: str
    source: str
    offers: list[Offer]


def cache_path(region: str) -> Path:
    """Where fetched offers for ``region`` are kept (per ROOST_HOME)."""
    return roost_home() / "offers" / f"aws-{region}.json"


def save_cache(cache: OfferCache) -> Path:
    """Write fetched offers atomically; later lookups use them instead of the snapshot."""
    path = cache_path(cache.region)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    # load_offers keys its memo on the file's mtime: the next call reads it
    write_private(path, cache.model_dump_json().encode())
    return path


def offers_source(region: str = "us-east-1") -> str:
    """Where the region's offers come from, in words (with the date)."""
    if region == ANY_REGION:
        fetched = [each for each in snapshot_regions() if cache_path(each).exists()]
        return SNAPSHOT_SOURCE + (f"; fetched from AWS for {', '.join(fetched)}" if fetched else "")
    path = cache_path(region)
    if path.exists():
        cache = OfferCache.model_validate_json(path.read_text())
        return f"{cache.source}, fetched {cache.fetched_at}"
    return SNAPSHOT_SOURCE


def load_offers(region: str = "us-east-1") -> tuple[Offer, ...]:
    """Every priced offer for the region (``any``: every region): fetched ones (``roost offers
    --refresh``) where there are, else the shipped snapshot."""
    if region == ANY_REGION:
        return tuple(offer for each in snapshot_regions() for offer in load_offers(each))
    path = cache_path(region)
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    return _load(region, stamp)


@functools.cache
def _load(region: str, stamp: int) -> tuple[Offer, ...]:
    if stamp:
        return tuple(OfferCache.model_validate_json(cache_path(region).read_text()).offers)
    return snapshot_offers(region)


@functools.cache
def _regional_rows() -> tuple[dict[str, str], ...]:
    with REGIONAL.open(newline="") as handle:
        return tuple(csv.DictReader(handle))


def snapshot_regions() -> tuple[str, ...]:
    """The regions the shipped snapshot has offers for."""
    return tuple(sorted({row["region"] for row in _regional_rows()}))


@functools.cache
def snapshot_offers(region: str = "us-east-1") -> tuple[Offer, ...]:
    """Every priced offer of the region in the shipped snapshot (and, in us-east-1, the older
    families only the first snapshot has)."""
    if region not in snapshot_regions():
        raise SpecError(
            f"no offers for region '{region}' in roost's snapshot",
            field="resources.region",
            value=region,
            hint=f"choose one of: {', '.join(snapshot_regions())}, or any (the cheapest region)",
        )
    rows = [row for row in _regional_rows() if row["region"] == region]
    if region == "us-east-1":
        families = {row["instance_type"].split(".")[0] for row in _regional_rows()}
        with OLD_US_EAST_1.open(newline="") as handle:
            rows += [row for row in csv.DictReader(handle) if row["instance_type"].split(".")[0] not in families]
    return tuple(_offer(row, region) for row in rows if row["price_per_hour_usd"])  # no on-demand price: not offered


def _offer(row: dict[str, str], region: str) -> Offer:
    return Offer(
        instance_type=row["instance_type"],
        region=region,
        vcpus=int(row["vcpus"]),
        memory_gib=float(row["memory_gib"] or 0),
        accelerator=row["accelerator"] or None,
        accelerator_count=float(row["accelerator_count"] or 0),
        gpu_memory_gib=float(row["gpu_memory_gib"]) if row["gpu_memory_gib"] else None,
        price=float(row["price_per_hour_usd"]),
        spot_price=float(row["spot_price_per_hour_usd"]) if row["spot_price_per_hour_usd"] else None,
        arch=_arch(row["instance_type"]),
    )


def _check_gpu_name(query: OfferQuery, offers: tuple[Offer, ...]) -> None:
    if query.gpu is None:
        return
    known = sorted({o.accelerator for o in offers if o.accelerator})
    if query.gpu.lower() not in {name.lower() for name in known}:
        close = difflib.get_close_matches(query.gpu, known, n=1, cutoff=0.5)
        raise SpecError(
            f"no offer in {_where(query.region)} has the accelerator '{query.gpu}'",
            field="resources.accelerators",
            hint=(f"did you mean '{close[0]}'? " if close else "") + f"known: {', '.join(known)}",
        )


def find_offers(query: OfferQuery) -> list[Offer]:
    """Every offer that fits, cheapest first (spot prices when the query asks for spot)."""
    offers = load_offers(query.region)
    _check_gpu_name(query, offers)
    fitting = [offer for offer in offers if query.matches(offer)]
    return sorted(fitting, key=lambda offer: (offer.hourly(query.spot), offer.instance_type, offer.region))


def _where(region: str) -> str:
    return "any region" if region == ANY_REGION else region


def query_for(resources: Resources) -> OfferQuery:
    """The offer query a spec's ``resources`` mean."""
    wanted = resources.accelerators
    return OfferQuery(
        gpu=wanted.name if wanted else None,
        gpu_count=wanted.count if wanted else None,
        cpus=resources.cpus,
        memory_gib=resources.memory_gib,
        spot=resources.spot,
        region=resources.region or "us-east-1",
        placeable=resources.placement == "cluster",
    )


def resolve_offer(resources: Resources) -> Offer:
    """The cheapest offer that fits; a pinned ``instance_type`` must exist and fit."""
    query = query_for(resources)
    if resources.instance_type:
        by_type: dict[str, Offer] = {}
        for each in sorted(load_offers(query.region), key=lambda o: o.hourly(query.spot), reverse=True):
            by_type[each.instance_type] = each  # the cheapest region's offer of each type wins
        offer = by_type.get(resources.instance_type)
        if offer is None:
            _no_such_type(resources.instance_type, query.region, list(by_type))
        if query.placeable and not can_be_placed(offer.instance_type):
            raise SpecError(
                f"instance type '{offer.instance_type}' cannot be launched into a cluster placement group "
                "(EC2 places no burstable, Mac or flex type)",
                field="resources.placement",
                value=offer.instance_type,
                hint="pick another instance_type (a GPU type, or c5/m5 and newer), or drop placement",
            )
        if not query.matches(offer.model_copy(update={"spot_price": offer.spot_price or offer.price})):
            raise SpecError(
                f"instance type '{offer.instance_type}' ({offer.vcpus} vCPUs, {offer.memory_gib:g} GiB, "
                f"{offer.accelerator_count:g} x {offer.accelerator or 'no accelerator'}) does not fit "
                "the resources the spec asks for",
                field="resources.instance_type",
                hint="drop instance_type to get the cheapest that fits, or ask for less",
            )
        return offer
    found = find_offers(query)
    if not found:
        raise SpecError(
            f"no offer in {_where(query.region)} fits: {describe(query)}",
            field="resources",
            hint="ask for fewer CPUs, less memory or fewer GPUs (see `roost offers`)",
        )
    return found[0]


def _no_such_type(instance_type: str, region: str, known: list[str]) -> NoReturn:
    """SpecError for a type not offered in ``region``: where it is offered, or the closest names."""
    elsewhere = sorted({o.region for o in load_offers(ANY_REGION) if o.instance_type == instance_type})
    close = difflib.get_close_matches(instance_type, known, n=3)
    raise SpecError(
        f"instance type '{instance_type}' does not exist in {_where(region)}",
        field="resources.instance_type",
        value=instance_type,
        hint=(
            f"it is offered in: {', '.join(elsewhere)} (or set region: any)"
            if elsewhere
            else (f"did you mean {', '.join(close)}?" if close else "see `roost offers`")
        ),
    )


def describe(query: OfferQuery) -> str:
    """The query in words, for messages."""
    parts = []
    if query.gpu or query.gpu_count:
        parts.append(f"{query.gpu_count or 1} x {query.gpu or 'GPU'}")
    if query.cpus:
        parts.append(f">= {query.cpus} vCPUs")
    if query.memory_gib:
        parts.append(f">= {query.memory_gib:g} GiB")
    if query.spot:
        parts.append("spot")
    if query.placeable:
        parts.append("in a cluster placement group")
    return ", ".join(parts) or "anything"


def offers(
    *,
    gpu: str | int | None = None,
    cpus: str | int | None = None,
    memory: str | float | None = None,
    spot: bool = False,
    region: str | None = None,
    arch: str | None = None,
) -> list[Offer]:
    """``roost offers``: values written as in a spec (``T4:2``, ``4+``, ``16GiB``), cheapest first."""
    wanted: dict[str, object] = {"spot": spot}
    for key, value in (("accelerators", gpu), ("cpus", cpus), ("memory", memory), ("region", region)):
        if value is not None:
            wanted[key] = value
    resources = spec_from_data({"name": "offers", "resources": wanted}, file="<command line>").resources
    query = query_for(resources)
    if arch is not None:
        if arch not in ("x86_64", "arm64"):
            raise SpecError(f"unknown architecture '{arch}'", field="arch", hint="use x86_64 or arm64")
        query.arch = arch
    return find_offers(query)
