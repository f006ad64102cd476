"""Offers from AWS itself (moto's EC2 API): fetched, dated, kept, and used from then on."""

from __future__ import annotations

import json
import random
from pathlib import Path

from roost.catalog.offers import OfferQuery, find_offers, load_offers
from tests.aws.helpers import roost_cli


def test_refresh_fetches_types_and_spot_prices_and_keeps_them_dated(aws, roost_home: Path) -> None:
    before = roost_cli("offers", "--gpu", "T4", "--json")
    assert "offers from roost's snapshot of skypilot-catalog" in before.stderr

    refreshed = roost_cli("offers", "--refresh", "--gpu", "T4", "--region", "us-east-1", "--json")
    assert refreshed.returncode == 0, refreshed.stderr
    # moto has no Price List API: roost says so and keeps the snapshot's on-demand prices
    assert "on-demand prices: roost's snapshot (the Price List API refused" in refreshed.stderr
    assert (
        "offers from EC2 API types and spot prices; on-demand prices from roost's snapshot, fetched 20"
        in refreshed.stderr
    )
    cache = json.loads((roost_home / "offers" / "aws-us-east-1.json").read_text())
    by_type = {o["instance_type"]: o for o in cache["offers"]}
    # types, GPUs and architectures as the EC2 API describes them (spot prices are moto's placeholders)
    assert by_type["g4dn.xlarge"]["accelerator"] == "T4" and by_type["g4dn.xlarge"]["gpu_memory_gib"] == 16
    assert by_type["t4g.medium"]["arch"] == "arm64" and by_type["g4dn.xlarge"]["spot_price"] is not None
    assert by_type["g4dn.xlarge"]["price"] == 0.526  # from the snapshot
    # and later lookups use them: the brute force over the fetched offers agrees with `roost offers`
    shown = [o["instance_type"] for o in json.loads(refreshed.stdout)]
    offers = load_offers()
    assert {o.instance_type for o in offers} == set(by_type)
    brute = sorted(
        (o for o in offers if (o.accelerator or "").lower() == "t4"), key=lambda o: (o.price, o.instance_type)
    )
    assert shown == [o.instance_type for o in brute][:20]
    rng = random.Random(7)
    for _ in range(50):
        query = OfferQuery(
            cpus=rng.choice([None, 2, 8, 32]),
            memory_gib=rng.choice([None, 4, 64]),
            gpu_count=rng.choice([None, 1, 4]),
            spot=rng.random() < 0.3,
        )
        expected = sorted(
            (o for o in offers if query.matches(o)), key=lambda o: (o.hourly(query.spot), o.instance_type)
        )
        assert find_offers(query) == expected
