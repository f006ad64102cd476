"""Many machines at once, on real SSH test hosts (network namespaces on this box; needs root).

  parallel_up_ratio_8 - 8 machines (no app, one test host each) brought up together by
                        roost's parallel bring-up, against 1 machine brought up alone:
                        target <= 1.5. The sequential sum is printed too, for scale.
  multinode_skew_s    - a 4-node job: the spread of the moments the nodes' commands
                        started (each prints time.time()): target <= 1 s.
  status_1000_ms      - `roost status` through the CLI over 1,000 machine records (local
                        machines whose folders do not exist: nothing to reach), median of 5,
                        against `roost status` over none (the CLI's own start) in the same run:
                        target <= 200 ms.

Rounds interleave the one-machine baseline and the eight, so both see the same load; each
round starts from nothing on the hosts (every machine is taken down after it).
Prints name=value lines.

    python bench/scale.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # dashboard.py's synthetic state


def host_entry(host) -> dict:
    return {"address": host.ip, "user": host.user, "key": host.key, "host_key": host.host_key_fingerprint}


def machine_specs(hosts, count: int, tag: str) -> list:
    from roost.spec.model import Spec

    return [
        Spec.model_validate({"name": f"{tag}-{index}", "backend": "ssh", "hosts": [host_entry(hosts.hosts[index])]})
        for index in range(count)
    ]


def timed_up(specs: list) -> float:
    from roost.lifecycle import machines
    from roost.progress import SilentProgress

    started = time.perf_counter()
    machines.up_all(specs, progress=SilentProgress(), accept_new_host_key=False)
    elapsed = time.perf_counter() - started
    for spec in specs:
        machines.down(spec.name, no_backup=True)
    return elapsed


def node_skew(hosts) -> float:
    import roost
    from roost.spec.model import Spec

    spec = Spec.model_validate(
        {
            "name": "skew",
            "backend": "ssh",
            "num_nodes": 4,
            "run": "python3 -c 'import time; print(\"started\", time.time())'",
            "hosts": [host_entry(hosts.hosts[index]) for index in range(4)],
        }
    )
    lines: list[str] = []
    result = roost.run(spec, down=True, on_output=lines.append)
    assert result.state == "succeeded", result
    starts = [float(line.split("started", 1)[1]) for line in lines if "started" in line]
    assert len(starts) == 4, lines
    return max(starts) - min(starts)


def status_ms(count: int, rounds: int = 5) -> float:
    """Median wall time of `roost status` over ``count`` synthetic records, in ms."""
    import subprocess

    from dashboard import make_home

    env = {**os.environ, "ROOST_HOME": str(make_home(count))}
    times = []
    for _ in range(rounds + 1):  # the first run records every machine's state: not counted
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "roost", "status"], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    none, thousand = status_ms(0), status_ms(1000)
    print(f"status_0_ms={none:.0f}")
    print(f"status_1000_ms={thousand:.0f}")
    with tempfile.TemporaryDirectory(prefix="roost-bench-scale-") as work:
        os.environ["ROOST_HOME"] = f"{work}/home"
        from tests.harness.testhosts import TestHosts, can_run

        reason = can_run()
        if reason:
            sys.exit(f"bench/scale.py needs test hosts: {reason}")
        hosts = TestHosts(8, prefix=f"s{os.getpid() % 1000:03d}x", net="10.250.0", directory=Path(work) / "hosts")
        hosts.up()
        try:
            timed_up(machine_specs(hosts, 8, "warm"))  # uv pushed once per host, like any later use
            one, eight, sequential, skews = [], [], [], []
            for round_ in range(args.rounds):
                one.append(timed_up(machine_specs(hosts, 1, f"one{round_}")))
                eight.append(timed_up(machine_specs(hosts, 8, f"eight{round_}")))
                sequential.append(sum(timed_up([spec]) for spec in machine_specs(hosts, 8, f"seq{round_}")))
                skews.append(node_skew(hosts))
        finally:
            hosts.down()
    print(f"up_1_s={statistics.median(one):.2f}")
    print(f"up_8_parallel_s={statistics.median(eight):.2f}")
    print(f"up_8_one_after_another_s={statistics.median(sequential):.2f}")
    print(f"parallel_up_ratio_8={statistics.median(eight) / statistics.median(one):.2f}")
    print(f"multinode_skew_s={statistics.median(skews):.3f}")
    print(f"rounds={args.rounds}")


if __name__ == "__main__":
    main()
