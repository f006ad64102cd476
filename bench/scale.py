"""Many machines at once, on real SSH test hosts (network namespaces on this box; needs root).

  parallel_up_ratio_8 - 8 machines (no app, one test host each) brought up together by
                        roost's parallel bring-up, against 1 machine brought up alone:
                        target <= 1.5. The sequential sum is printed too, for scale, and
                        up_N_cpu_s: the CPU seconds the whole box (roost, ssh, the hosts'
                        sshd and agents) spent during the ups: when 8 ups need more CPU
                        than the cores give in 1.5 x up_1_s, the target is out of reach.
  multinode_skew_s    - a 4-node job: the spread of the moments the nodes' commands
                        started (each prints time.time()): target <= 1 s.
  status_1000_ms      - `roost status` through the CLI over 1,000 machine records (local
                        machines whose folders do not exist: nothing to reach) while a
                        `roost watch` keeps their probes (the cache the CLI answers from),
                        median of 5: target <= 200 ms. Printed beside it, in the same run:
                        status_0_ms (no machines: the CLI's own start) and
                        status_1000_live_ms (`roost status --live`: every machine probed).

Rounds interleave the one-machine baseline and the eight, so both see the same load; each
round starts from nothing on the hosts (every machine is taken down after it).
Prints name=value lines.

    python bench/scale.py [--rounds 3] [--status-only]
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


def busy_cpu_s() -> float:
    """CPU seconds every core of this box has spent busy since boot (/proc/stat)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


CPU_SPENT: dict[int, list[float]] = {}  # machines brought up together -> the box's CPU seconds per round


def timed_up(specs: list) -> float:
    from roost.lifecycle import machines
    from roost.progress import SilentProgress

    started, cpu = time.perf_counter(), busy_cpu_s()
    machines.up_all(specs, progress=SilentProgress(), accept_new_host_key=False)
    elapsed = time.perf_counter() - started
    CPU_SPENT.setdefault(len(specs), []).append(busy_cpu_s() - cpu)
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


def status_ms(count: int, rounds: int = 5, *, live: bool = False) -> float:
    """Median wall time of `roost status` over ``count`` synthetic records, in ms, while a
    `roost watch` probes them (``live``: `roost status --live`, which probes every one itself)."""
    import subprocess

    from dashboard import make_home

    env = {**os.environ, "ROOST_HOME": str(make_home(count))}
    roost = [sys.executable, "-m", "roost"]
    watcher = subprocess.Popen(
        [*roost, "watch", "--probe-every", "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_cache(Path(env["ROOST_HOME"]), count)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([*roost, "status", *(["--live"] if live else [])], env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    finally:
        watcher.terminate()
        watcher.wait(timeout=60)
    return statistics.median(times) * 1000


def wait_for_cache(home: Path, count: int, timeout: float = 600) -> None:
    """Until the watcher has probed every machine once (its first pass)."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (home / "state.db").exists():
            try:
                with sqlite3.connect(home / "state.db") as db:
                    if db.execute("SELECT count(*) FROM status_cache").fetchone()[0] >= count:
                        return
            except sqlite3.OperationalError:
                pass  # not migrated yet
        time.sleep(0.2)
    raise SystemExit(f"the watcher did not probe {count} machines in {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--status-only", action="store_true", help="only the status_* figures (no test hosts)")
    args = parser.parse_args()
    none, thousand, live = status_ms(0), status_ms(1000), status_ms(1000, live=True)
    print(f"status_0_ms={none:.0f}")
    print(f"status_1000_ms={thousand:.0f}")
    print(f"status_1000_live_ms={live:.0f}")
    if args.status_only:
        return
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
            CPU_SPENT.clear()
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
    print(f"up_1_cpu_s={statistics.median(CPU_SPENT[1]):.2f}")
    print(f"up_8_cpu_s={statistics.median(CPU_SPENT[8]):.2f}")
    print(f"cores={os.cpu_count()}")
    print(f"multinode_skew_s={statistics.median(skews):.3f}")
    print(f"rounds={args.rounds}")


if __name__ == "__main__":
    main()
