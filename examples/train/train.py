"""Train a small PyTorch classifier on scikit-learn's bundled digits (no download).

Checkpoints every epoch to $ROOST_CHECKPOINT_DIR (or ./checkpoints) and resumes from the
last one, so epochs already done are never redone; saves model/model.pt and
model/metrics.json. Runs on a GPU when one is visible (CUDA_VISIBLE_DEVICES), else the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn


def data(device: torch.device) -> tuple[torch.Tensor, ...]:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    as_float = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    as_long = lambda a: torch.tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return as_float(x_train), as_float(x_test), as_long(y_train), as_long(y_test)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default="model")
    args = parser.parse_args()
    torch.manual_seed(int(os.environ.get("SEED", "0")))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device={device} cuda_visible_devices={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}", flush=True)
    x_train, x_test, y_train, y_test = data(device)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    checkpoints = Path(os.environ.get("ROOST_CHECKPOINT_DIR", "checkpoints"))
    checkpoints.mkdir(parents=True, exist_ok=True)
    start = 0
    if (checkpoints / "last.pt").exists():
        state = torch.load(checkpoints / "last.pt", map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        print(f"resumed after epoch {start}", flush=True)
    samples, started = 0, time.perf_counter()
    for epoch in range(start, args.epochs):
        order = torch.randperm(len(x_train), device=device)
        for begin in range(0, len(order), args.batch):
            batch = order[begin:begin + args.batch]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            samples += len(batch)
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}/{args.epochs} loss={loss.item():.4f} test_accuracy={accuracy:.4f}", flush=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                   checkpoints / "last.pt")
    elapsed = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    torch.save(model.state_dict(), out / "model.pt")
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    metrics = {"test_accuracy": accuracy, "epochs": args.epochs, "device": str(device),
               "samples_per_second": samples / elapsed if elapsed > 0 else None}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(f"done: test_accuracy={accuracy:.4f} samples_per_second={metrics['samples_per_second']}", flush=True)


if __name__ == "__main__":
    main()
