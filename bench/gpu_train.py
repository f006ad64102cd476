"""Training throughput through roost against the same script run bare (issue: jobs on a GPU).

Runs examples/train/train.py as a roost job on the local backend (with `accelerators: 1`
when nvidia-smi sees a GPU) and directly with the same venv, alternating, and compares
the samples/second each reports. Prints name=value lines, including the device used.

    python bench/gpu_train.py [--rounds 3] [--epochs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

import roost

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "train"


def has_gpu() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.startswith("GPU ")
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roost-bench-gpu-"))
    os.environ["ROOST_HOME"] = str(work / "home")
    spec = yaml.safe_load((EXAMPLE / "train.yaml").read_text())
    spec.update(name="bench-gpu", workdir=str(EXAMPLE), run=f".venv/bin/python train.py --epochs {args.epochs}")
    if has_gpu():
        spec["resources"] = {"accelerators": 1}
    spec_path = work / "bench.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    roost_rates, bare_rates, devices = [], [], set()
    try:
        for index in range(args.rounds):
            operations_dir = work / f"outputs-{index}"
            result = roost.run(spec_path, outputs_root=operations_dir)
            assert result.state == "succeeded", result
            metrics = json.loads((operations_dir / result.job / "model" / "metrics.json").read_text())
            roost_rates.append(metrics["samples_per_second"])
            devices.add(metrics["device"])
            roost.exec("bench-gpu", "rm -rf ../checkpoints/* model")
            machine_dir = Path(os.environ["ROOST_HOME"]) / "machines" / "bench-gpu" / "workdir"
            bare_dir = work / f"bare-{index}"
            env = {**os.environ, "ROOST_CHECKPOINT_DIR": str(bare_dir / "ckpt"), "SEED": "0"}
            if has_gpu():
                env["CUDA_VISIBLE_DEVICES"] = "0"
            subprocess.run(
                [
                    str(machine_dir / ".venv" / "bin" / "python"),
                    str(EXAMPLE / "train.py"),
                    "--epochs",
                    str(args.epochs),
                    "--out",
                    str(bare_dir / "model"),
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            bare = json.loads((bare_dir / "model" / "metrics.json").read_text())
            bare_rates.append(bare["samples_per_second"])
            devices.add(bare["device"])
            print(f"round {index + 1}: roost {roost_rates[-1]:.0f}/s  bare {bare_rates[-1]:.0f}/s", flush=True)
    finally:
        try:
            roost.down("bench-gpu")
        except roost.RoostError:
            pass
        shutil.rmtree(work, ignore_errors=True)
    print(f"device={','.join(sorted(devices))}")
    print(f"train_samples_per_second_roost_median={statistics.median(roost_rates):.0f}")
    print(f"train_samples_per_second_bare_median={statistics.median(bare_rates):.0f}")
    print(f"train_throughput_ratio={statistics.median(roost_rates) / statistics.median(bare_rates):.3f}")


if __name__ == "__main__":
    sys.exit(main())
