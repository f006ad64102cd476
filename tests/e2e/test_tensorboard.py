"""TensorBoard for real on the local backend: a job writes scalars, TensorBoard's own HTTP API
lists the run and its tag, and they are still there after stop and start."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tensorboard"


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_tensorboard_shows_the_scalars_a_job_wrote(roost_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, work)
    spec = yaml.safe_load((work / "tensorboard.yaml").read_text())
    spec["workdir"] = str(work)
    path = tmp_path / "tb.yaml"
    path.write_text(yaml.safe_dump(spec))

    job = roost.run(path)
    assert job.state == "succeeded", job
    base = roost.status("tb")[0].url.rstrip("/")

    def tags() -> dict:
        found = _get(base + "/data/plugin/scalars/tags")
        return found if "loss" in found.get("exp1", {}) else {}

    wait_for(tags, 60, "TensorBoard to list run exp1 with tag loss")  # it reloads every 5 s
    points = _get(base + "/data/plugin/scalars/scalars?run=exp1&tag=loss")
    assert len(points) == 20 and points[0][1] == 0 and abs(points[0][2] - 2.0) < 1e-6  # [time, step, value]

    roost.stop("tb")
    base = roost.start("tb").url.rstrip("/")
    wait_for(tags, 60, "the run after stop and start")
