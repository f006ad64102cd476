"""Offers: the cheapest fitting offer matches a brute-force search over the shipped CSV."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from roost.catalog import OfferQuery, find_offers, offers, resolve_offer
from roost.errors import SpecError
from roost.spec.loader import spec_from_data

CSV = Path(__file__).resolve().parents[2] / "src" / "roost" / "catalog" / "data" / "aws-offers-us-east-1.csv"
NVIDIA = {"T4", "T4g", "A10G", "M60", "V100", "V100-32GB", "K80", "K520", "A100", "A100-80GB"}


def brute_force(
    gpu: str | None, count: int | None, cpus: int | None, memory: float | None, spot: bool
) -> list[tuple[str, float]]:
    """An independent reading of the CSV: every row that fits, (type, price) cheapest first."""
    rows = []
    with CSV.open() as handle:
        for row in csv.DictReader(handle):
            if not row["price_per_hour_usd"]:
                continue
            name, have = row["accelerator"], int(float(row["accelerator_count"] or 0))
            if gpu and (name.lower() != gpu.lower() or have < (count or 1)):
                continue
            if not gpu and count and (name not in NVIDIA or have < count):
                continue
            if cpus and int(row["vcpus"]) < cpus:
                continue
            if memory and float(row["memory_gib"] or 0) < memory:
                continue
            if spot and not row["spot_price_per_hour_usd"]:
                continue
            price = float(row["spot_price_per_hour_usd"] if spot else row["price_per_hour_usd"])
            rows.append((row["instance_type"], price))
    return sorted(rows, key=lambda item: (item[1], item[0]))


QUERIES = list(
    itertools.product(
        [None, "T4", "A10G", "V100", "a100"], [None, 1, 4, 8], [None, 4, 32], [None, 16.0, 200.0], [False, True]
    )
)


@pytest.mark.parametrize("gpu,count,cpus,memory,spot", QUERIES[::7] + QUERIES[1::11])
def test_offers_match_a_brute_force_search(gpu, count, cpus, memory, spot) -> None:
    expected = brute_force(gpu, count, cpus, memory, spot)
    found = find_offers(OfferQuery(gpu=gpu, gpu_count=count, cpus=cpus, memory_gib=memory, spot=spot))
    assert [(o.instance_type, o.hourly(spot)) for o in found] == expected


def test_every_query_in_the_grid_agrees_on_the_cheapest() -> None:
    for gpu, count, cpus, memory, spot in QUERIES:
        expected = brute_force(gpu, count, cpus, memory, spot)
        found = find_offers(OfferQuery(gpu=gpu, gpu_count=count, cpus=cpus, memory_gib=memory, spot=spot))
        assert (found[0].instance_type if found else None) == (expected[0][0] if expected else None)


def resources(**values):
    return spec_from_data({"name": "x", "resources": values}).resources


def test_a_spec_resolves_to_the_cheapest_fitting_offer() -> None:
    assert resolve_offer(resources(accelerators="T4:1")).instance_type == "g4dn.xlarge"
    assert resolve_offer(resources(cpus=4, memory="16GiB")).instance_type == brute_force(None, None, 4, 16, False)[0][0]
    pinned = resolve_offer(resources(instance_type="p3.2xlarge", accelerators="V100:1"))
    assert (pinned.vcpus, pinned.accelerator, pinned.price) == (8, "V100", 3.06)


def test_graviton_families_are_arm64() -> None:
    arch = {o.instance_type: o.arch for o in offers()}
    assert arch["t4g.small"] == arch["c6gn.large"] == arch["g5g.xlarge"] == arch["a1.large"] == "arm64"
    assert arch["g4dn.xlarge"] == arch["m5.large"] == arch["inf1.xlarge"] == "x86_64"
    assert "mac1.metal" not in arch  # no on-demand price: never offered


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"accelerators": "T5:1"}, "no offer in us-east-1 has the accelerator 'T5'.*did you mean 'T4'"),
        ({"instance_type": "g4dn.xlarg"}, "instance type 'g4dn.xlarg' does not exist in us-east-1.*g4dn.xlarge"),
        ({"instance_type": "g4dn.xlarge", "accelerators": "T4:4"}, "'g4dn.xlarge' .*1 x T4.* does not fit"),
        ({"accelerators": "A100:16"}, r"no offer in us-east-1 fits: 16 x A100"),
        ({"region": "eu-west-9", "cpus": 2}, "no offers for region 'eu-west-9'.*us-east-1"),
    ],
)
def test_impossible_requests_are_clear_errors(values, message) -> None:
    with pytest.raises(SpecError, match=f"(?s){message}"):
        resolve_offer(resources(**values))
