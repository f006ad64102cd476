"""AWS bring-up of several machines at once, on moto + the tests' fake cloud (needs root).

  aws_parallel_up_ratio_4 - 4 AWS machines (no app) brought up together by roost's parallel
                            bring-up, against 1 alone, each from nothing (key pair, security
                            group, instance, SSH, agent): target <= 1.5. moto answers the API
                            at once, so this measures roost's own part and the hosts' boot,
                            not EC2's minute of provisioning (which overlaps as well).
                            aws_up_N_cpu_s: the CPU seconds the whole box (roost, moto, the
                            fake cloud's boots, the hosts' sshd and agents) spent meanwhile.

Each measurement starts from a reset moto and ends with every machine down. Rounds
interleave the two. Prints name=value lines.

    python bench/aws_scale.py [--rounds 3]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # scale.py's CPU meter

NET = "10.246.0"
CPU_SPENT: dict[int, list[float]] = {}  # machines brought up together -> the box's CPU seconds per round


def timed_up(moto, hosts, count: int, tag: str) -> float:
    from roost.lifecycle import machines
    from roost.progress import SilentProgress
    from roost.spec.model import Spec
    from tests.harness.fakecloud import CloudInit, seed

    moto.reset()
    subnet, _ = seed(moto, f"{NET}.0/24")
    watcher = CloudInit(moto, hosts)
    watcher.start()
    specs = [
        Spec.model_validate(
            {"name": f"{tag}-{index}", "backend": "aws", "connect": "private", "aws": {"subnet": subnet}}
        )
        for index in range(count)
    ]
    try:
        from scale import busy_cpu_s

        started, cpu = time.perf_counter(), busy_cpu_s()
        machines.up_all(specs, progress=SilentProgress(), accept_new_host_key=False)
        elapsed = time.perf_counter() - started
        CPU_SPENT.setdefault(count, []).append(busy_cpu_s() - cpu)
        for spec in specs:
            machines.down(spec.name, no_backup=True)
    finally:
        watcher.stop()
    assert not watcher.errors, watcher.errors
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roost-bench-aws-") as work:
        os.environ["ROOST_HOME"] = f"{work}/home"
        from tests.harness.fakecloud import MotoServer
        from tests.harness.testhosts import TestHosts, can_run

        reason = can_run()
        if reason:
            sys.exit(f"bench/aws_scale.py needs test hosts: {reason}")
        moto = MotoServer().start()
        os.environ.update(moto.env())
        os.environ.pop("AWS_PROFILE", None)
        hosts = TestHosts(
            4, prefix=f"w{os.getpid() % 1000:03d}x", net=NET, first=4, user="ubuntu", directory=Path(work) / "hosts"
        )
        hosts.up()
        try:
            one, four = [], []
            for round_ in range(args.rounds):
                one.append(timed_up(moto, hosts, 1, f"one{round_}"))
                four.append(timed_up(moto, hosts, 4, f"four{round_}"))
        finally:
            hosts.down()
            moto.stop()
    print(f"aws_up_1_s={statistics.median(one):.2f}")
    print(f"aws_up_4_parallel_s={statistics.median(four):.2f}")
    print(f"aws_parallel_up_ratio_4={statistics.median(four) / statistics.median(one):.2f}")
    print(f"aws_up_1_cpu_s={statistics.median(CPU_SPENT[1]):.2f}")
    print(f"aws_up_4_cpu_s={statistics.median(CPU_SPENT[4]):.2f}")
    print(f"cores={os.cpu_count()}")
    print(f"rounds={args.rounds}")


if __name__ == "__main__":
    main()
