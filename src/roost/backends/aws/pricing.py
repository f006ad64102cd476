"""Offers from AWS itself: instance types from EC2, spot prices from their history, on-demand
prices from the Price List API when the credentials may read it (else roost's snapshot)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from roost.backends.aws.cloud import Cloud, translate
from roost.catalog.offers import Offer
from roost.errors import AwsError

PRICING_REGION = "us-east-1"  # the Price List API answers in a few regions only


def fetch_offers(cloud: Cloud, known: dict[str, Offer], say: Callable[[str], None]) -> tuple[list[Offer], str]:
    """(offers, where the prices came from). ``known`` (the snapshot) fills on-demand prices the
    Price List API did not give; types priced nowhere are left out."""
    types = _instance_types(cloud)
    spot = _spot_prices(cloud)
    on_demand, source = _on_demand_prices(cloud)
    if not on_demand:
        say(f"  on-demand prices: roost's snapshot ({source})")
    offers, unpriced = [], 0
    for item in types:
        name = item["InstanceType"]
        price = on_demand.get(name) or (known[name].price if name in known else None)
        if price is None:
            unpriced += 1
            continue
        offers.append(_offer(item, cloud.region, price, spot.get(name)))
    if unpriced:
        say(f"  {unpriced} instance types have no known on-demand price and are left out")
    where = "EC2 API types and spot prices; on-demand prices from " + (
        "the Price List API" if on_demand else "roost's snapshot"
    )
    return sorted(offers, key=lambda o: o.instance_type), where


def _offer(item: dict[str, Any], region: str, price: float, spot: float | None) -> Offer:
    gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
    accelerators = gpus or (item.get("InferenceAcceleratorInfo") or {}).get("Accelerators") or []
    first = accelerators[0] if accelerators else None
    arches = item.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"])
    return Offer(
        instance_type=item["InstanceType"],
        region=region,
        vcpus=int(item["VCpuInfo"]["DefaultVCpus"]),
        memory_gib=item["MemoryInfo"]["SizeInMiB"] / 1024,
        accelerator=first["Name"] if first else None,
        accelerator_count=sum(int(a.get("Count", 0)) for a in accelerators),
        gpu_memory_gib=first["MemoryInfo"]["SizeInMiB"] / 1024 if first and gpus else None,
        price=price,
        spot_price=spot,
        arch="arm64" if "arm64" in arches else "x86_64",
    )


def _instance_types(cloud: Cloud) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pages = cloud.ec2.get_paginator("describe_instance_types").paginate()
    with translate("list instance types"):
        for page in pages:
            found += page["InstanceTypes"]
    return found


def _spot_prices(cloud: Cloud) -> dict[str, float]:
    """The lowest current Linux spot price of each type across the region's zones."""
    lowest: dict[str, float] = {}
    pages = cloud.ec2.get_paginator("describe_spot_price_history").paginate(
        ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"], StartTime=datetime.datetime.now(datetime.UTC)
    )
    with translate("read spot prices"):
        for page in pages:
            for entry in page["SpotPriceHistory"]:
                price = float(entry["SpotPrice"])
                lowest[entry["InstanceType"]] = min(price, lowest.get(entry["InstanceType"], price))
    return lowest


def _on_demand_prices(cloud: Cloud) -> tuple[dict[str, float], str]:
    """Linux, shared tenancy, no pre-installed software; ({}, why) when the API refuses."""
    from botocore.config import Config  # optional dependency, with boto3

    client = cloud.client(
        "pricing",
        region_name=PRICING_REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20),
    )
    filters = [
        {"Type": "TERM_MATCH", "Field": field, "Value": value}
        for field, value in (
            ("regionCode", cloud.region),
            ("operatingSystem", "Linux"),
            ("tenancy", "Shared"),
            ("preInstalledSw", "NA"),
            ("capacitystatus", "Used"),
        )
    ]
    prices: dict[str, float] = {}
    try:
        with translate("read the Price List API"):
            for page in client.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):
                for text in page["PriceList"]:
                    _add_price(prices, json.loads(text))
    except AwsError as exc:
        return {}, f"the Price List API refused: {exc.message}"
    return prices, "the Price List API"


def _add_price(prices: dict[str, float], product: dict[str, Any]) -> None:
    name = product.get("product", {}).get("attributes", {}).get("instanceType")
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = float(dimension.get("pricePerUnit", {}).get("USD", 0) or 0)
            if name and usd > 0:
                prices[name] = usd
