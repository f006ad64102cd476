"""Where roost's part of a launch goes: `roost up jupyter` on a new local machine (uv cache
warm), each progress line stamped as it arrives, and the moment the process exits.

Prints the stamped lines of each round, then name=value lines (medians over the rounds):
  first_step_s - from starting the CLI to its first finished step (Python, imports, state)
  lanes_end_s  - when the last of the parallel lanes (install, agent, config) finished
  exit_after_url_s - from the printed URL to the process's exit

    python bench/launch_steps.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stamped(args: list[str], env: dict[str, str]) -> tuple[list[tuple[float, str]], float]:
    """The command's output lines with the second each arrived, and the second it exited."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "roost", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[tuple[float, str]] = []

    def pump(stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            lines.append((time.perf_counter() - started, line.rstrip()))

    pumps = [threading.Thread(target=pump, args=(stream,)) for stream in (proc.stdout, proc.stderr)]
    for each in pumps:
        each.start()
    proc.wait()
    for each in pumps:
        each.join()
    if proc.returncode != 0:
        raise SystemExit(f"roost {' '.join(args)} failed: {lines}")
    return sorted(lines), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("UV_CACHE_DIR", str(REPO / ".cache" / "uv"))
    first, lanes, exits = [], [], []
    with tempfile.TemporaryDirectory(prefix="roost-bench-steps-") as work:
        for index in range(args.rounds + 1):  # the first round warms uv's cache; not counted
            env = {**os.environ, "ROOST_HOME": f"{work}/home-{index}"}
            lines, ended = stamped(["up", "jupyter"], env)
            stamped(["down", "jupyter"], env)
            if index == 0:
                continue
            for at, text in lines:
                print(f"{at:6.3f}  {text}")
            print(f"{ended:6.3f}  (exit)", flush=True)
            steps = [at for at, text in lines if text.lstrip().startswith("✓")]
            url = next(at for at, text in lines if " is up in " in text)
            first.append(steps[0])
            lanes.append(steps[-2])  # the last step is the app's start
            exits.append(ended - url)
    print(f"first_step_s={statistics.median(first):.3f}")
    print(f"lanes_end_s={statistics.median(lanes):.3f}")
    print(f"exit_after_url_s={statistics.median(exits):.3f}")
    print(f"rounds={args.rounds}")


if __name__ == "__main__":
    main()
