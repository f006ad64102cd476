"""Offers: the cheapest fitting offer matches a brute-force search over the shipped CSV."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from roost.catalog import OfferQuery, find_offers, offers, resolve_offer
from roost.errors import SpecError
from roost.spec.loader import spec_from_data
from roost.spec.resources import Resources

DATA = Path(__file__).resolve().parents[2] / "src" / "roost" / "catalog" / "data"
NVIDIA = {"T4", "T4g", "A10G", "M60", "V100", "V100-32GB", "K80", "K520", "A100", "A100-80GB",
          "L4", "L40S", "H100", "H200", "B200", "RTX PRO Server 6000"}  # fmt: skip
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


def rows_of(region: str) -> list[dict]:
    """An independent reading of the shipped CSVs: the region's rows of the six-region file and,
    in us-east-1, the first snapshot's rows of the families the new file does not have."""
    with (DATA / "aws-offers.csv").open() as handle:
        regional = list(csv.DictReader(handle))
    rows = [dict(row) for row in regional if region in (row["region"], "any")]
    if region in ("us-east-1", "any"):
        families = {row["instance_type"].split(".")[0] for row in regional}
        with (DATA / "aws-offers-us-east-1.csv").open() as handle:
            rows += [
                {**row, "region": "us-east-1"}
                for row in csv.DictReader(handle)
                if row["instance_type"].split(".")[0] not in families
            ]
    return rows


def brute_force(
    gpu: str | None, count: int | None, cpus: int | None, memory: float | None, spot: bool, region: str = "us-east-1"
) -> list[tuple[str, str, float]]:
    """Every row that fits, (type, region, price) cheapest first."""
    found = []
    for row in rows_of(region):
        if not row["price_per_hour_usd"]:
            continue
        name, have = row["accelerator"], float(row["accelerator_count"] or 0)
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
        found.append((row["instance_type"], row["region"], price))
    return sorted(found, key=lambda item: (item[2], item[0], item[1]))


QUERIES = list(
    itertools.product(
        [None, "T4", "A10G", "V100", "a100"], [None, 1, 4, 8], [None, 4, 32], [None, 16.0, 200.0], [False, True]
    )
)


@pytest.mark.parametrize("gpu,count,cpus,memory,spot", QUERIES[::7] + QUERIES[1::11])
def test_offers_match_a_brute_force_search(gpu, count, cpus, memory, spot) -> None:
    expected = brute_force(gpu, count, cpus, memory, spot)
    found = find_offers(OfferQuery(gpu=gpu, gpu_count=count, cpus=cpus, memory_gib=memory, spot=spot))
    assert [(o.instance_type, o.region, o.hourly(spot)) for o in found] == expected


def test_every_query_in_the_grid_agrees_on_the_cheapest() -> None:
    for gpu, count, cpus, memory, spot in QUERIES:
        expected = brute_force(gpu, count, cpus, memory, spot)
        found = find_offers(OfferQuery(gpu=gpu, gpu_count=count, cpus=cpus, memory_gib=memory, spot=spot))
        assert (found[0].instance_type if found else None) == (expected[0][0] if expected else None)


def resources(**values):
    return Resources.model_validate(values)


def test_a_spec_resolves_to_the_cheapest_fitting_offer() -> None:
    assert resolve_offer(resources(accelerators="T4:1")).instance_type == "g4dn.xlarge"
    assert resolve_offer(resources(cpus=4, memory="16GiB")).instance_type == brute_force(None, None, 4, 16, False)[0][0]
    pinned = resolve_offer(resources(instance_type="p3.2xlarge", accelerators="V100:1"))
    assert (pinned.vcpus, pinned.accelerator, pinned.price) == (8, "V100", 3.06)


def test_a_cluster_placement_group_gets_no_burstable_type() -> None:
    cheapest = resolve_offer(resources(cpus=2, memory="4GiB"))
    placed = resolve_offer(resources(cpus=2, memory="4GiB", placement="cluster"))
    assert cheapest.instance_type.startswith("t") and not placed.instance_type.startswith("t")
    assert (placed.vcpus, placed.memory_gib) >= (2, 4)
    assert resolve_offer(resources(accelerators="T4:1", placement="cluster")).instance_type == "g4dn.xlarge"


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
        ({"instance_type": "t3.large", "placement": "cluster"}, "'t3.large' cannot be launched into a cluster"),
    ],
)
def test_impossible_requests_are_clear_errors(values, message) -> None:
    with pytest.raises(SpecError, match=f"(?s){message}"):
        resolve_offer(resources(**values))


GRID = list(itertools.product(["T4", "A10G", "L4", "L40S", "A100", "H100", "H200", "B200", None], [1, 8], [False, True],
                              [*REGIONS, "any"]))  # fmt: skip


def test_every_gpu_count_spot_and_region_query_equals_a_brute_force_search() -> None:
    for gpu, count, spot, region in GRID:
        expected = brute_force(gpu, count, None, None, spot, region)
        try:
            found = find_offers(OfferQuery(gpu=gpu, gpu_count=count, spot=spot, region=region))
        except SpecError:  # the accelerator is not sold in that region at all
            assert gpu is not None and expected == [] and not any(r["accelerator"] == gpu for r in rows_of(region))
            continue
        assert [(o.instance_type, o.region, o.hourly(spot)) for o in found] == expected, (gpu, count, spot, region)


def test_region_any_picks_the_cheapest_region_and_todays_gpus_resolve() -> None:
    h100 = resolve_offer(resources(accelerators="H100:8", region="any"))
    assert (h100.instance_type, h100.accelerator_count) == ("p5.48xlarge", 8)
    assert h100.price == min(price for _, _, price in brute_force("H100", 8, None, None, False, "any"))
    spot = resolve_offer(resources(accelerators="L40S:1", spot=True, region="any"))
    cheapest = brute_force("L40S", 1, None, None, True, "any")[0]
    assert (spot.instance_type, spot.region, spot.spot_price) == cheapest
    pinned = resolve_offer(resources(instance_type="g4dn.xlarge", spot=True, region="any"))
    assert (
        pinned.region
        == min(
            (price, region)
            for kind, region, price in brute_force("T4", 1, None, None, True, "any")
            if kind == "g4dn.xlarge"
        )[1]
    )
    with pytest.raises(SpecError, match="(?s)does not exist in eu-west-1.*offered in"):
        resolve_offer(resources(instance_type="p5.48xlarge", region="eu-west-1"))
    with pytest.raises(SpecError, match="did you mean 'H100'"):
        resolve_offer(resources(accelerators="H1000:8", region="any"))


def test_a_new_aws_machine_goes_where_the_cheapest_fitting_offer_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from roost.backends.aws.backend import AwsBackend
    from roost.machine.record import CloudFacts, MachineRecord, MachineState

    def record(**spec) -> MachineRecord:
        data = {"name": "gpu", "backend": "aws", **spec}
        return MachineRecord(name="gpu", backend="aws", spec=spec_from_data(data), state=MachineState.PROVISIONING,
                             created_at=0, updated_at=0)  # fmt: skip

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # present, never used: nothing is called
        monkeypatch.setenv(key, "testing")
    kind, region, price = brute_force("L40S", 1, None, None, True, "any")[0]
    new = record(resources={"accelerators": "L40S:1", "spot": True})
    backend = AwsBackend()
    assert backend.region_of(new) == region and backend.cloud(new).region == region
    assert backend.quote(new).startswith(f"{kind} in {region} ") and f"spot, ${price:.4f}/h" in backend.quote(new)
    # a region in the spec, a subnet (an id of one region) or a machine already made: that region
    assert AwsBackend().region_of(record(resources={"accelerators": "L40S:1", "region": "us-west-2"})) == "us-west-2"
    assert AwsBackend().region_of(record(aws={"subnet": "subnet-0a1b2c3d"})) == "us-east-1"
    made = record(resources={"accelerators": "L40S:1", "spot": True})
    made.facts.cloud = CloudFacts(region="eu-central-1")
    assert AwsBackend().region_of(made) == "eu-central-1" and AwsBackend().offer(made).region == "eu-central-1"
