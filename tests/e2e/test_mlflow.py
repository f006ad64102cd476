"""MLflow for real on the local backend: a job logs a metric and a model; the UI's REST API lists
the run; a backup restored onto another machine keeps the run and the model."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mlflow"


def _api(base: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _runs(machine: str) -> list[dict]:
    base = roost.status(machine)[0].url.rstrip("/")
    experiment = _api(base, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=roost-example")["experiment"]
    return _api(base, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]


def _model_files(machine: str, run: dict) -> list[str]:
    base = roost.status(machine)[0].url.rstrip("/")
    found = _api(base, "/api/2.0/mlflow/logged-models/search", {"experiment_ids": [run["info"]["experiment_id"]]}).get(
        "models", []
    )
    assert [m["info"]["name"] for m in found] == ["doubler"], found
    model_id = found[0]["info"]["model_id"]
    listed = _api(base, f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories?artifact_directory_path=")
    return sorted(f["path"] for f in listed.get("files", []))


def test_mlflow_keeps_a_jobs_run_and_model_through_backup_and_restore(roost_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE, work)
    spec = yaml.safe_load((work / "mlflow.yaml").read_text())
    spec["workdir"] = str(work)
    path = tmp_path / "mlf.yaml"
    path.write_text(yaml.safe_dump(spec))

    lines: list[str] = []
    job = roost.run(path, on_output=lines.append)
    assert job.state == "succeeded", "".join(lines)
    assert "prediction: [2, 4]" in "".join(lines)  # the model went to the server and came back
    runs = _runs("mlf")
    assert len(runs) == 1
    metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
    assert metrics == {"loss": 0.25} and {p["key"]: p["value"] for p in runs[0]["data"]["params"]} == {"lr": "0.1"}
    files = _model_files("mlf", runs[0])
    assert "MLmodel" in files

    backup = roost.backup("mlf")
    assert backup.annotations == 1  # one run
    other = tmp_path / "mlf2.yaml"
    other.write_text(yaml.safe_dump({"name": "mlf2", "backend": "local", "app": {"type": "mlflow"}}))
    roost.restore("mlf2", backup.id, source="mlf", spec=str(other))
    restored = _runs("mlf2")
    assert [r["info"]["run_id"] for r in restored] == [runs[0]["info"]["run_id"]]
    assert _model_files("mlf2", restored[0]) == files
