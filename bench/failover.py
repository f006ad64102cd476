"""Failover benchmark: what clients see when a replica dies or a machine is cut off, repeated.

Two SSH test hosts made for the run (root needed: sshd in network namespaces,
``tests/harness``, network 10.254.0.0/24): a service of 2 replicas spread over both
(``service.machines: 2``, probe every 1 s, timeout 1 s). Four keep-alive clients send GETs
through the balancer for 12 s per round, each pausing 5 ms between requests (at most 20,000
requests). Each round:
  kill9   - kill -9 of the gateway machine's replica: failed requests, seconds until it
            answers its probe again;
  cut     - the worker's network taken down: failed requests (a response cut half-way can
            fail), seconds after the cut until requests are answered at once again, seconds
            until the controller's replacement on the gateway machine serves.
  resent  - (both) GETs the client sent again, once, because an idle keep-alive connection
            was closed under them (a balancer reload ends idle connections; browsers resend).
  heal    - network back, `roost serve` again: the worker holds a replica again.
Prints name=value lines (one set per round, then totals).

    python bench/failover.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import roost

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roost-bench-failover-") as work:
        os.environ["ROOST_HOME"] = f"{work}/home"
        from tests.harness.testhosts import TestHosts

        hosts = TestHosts(2, prefix=f"f{os.getpid() % 1000:03d}x", net="10.254.0", directory=Path(work) / "hosts")
        hosts.up()
        try:
            run(hosts, Path(work), args.rounds)
        finally:
            hosts.down()


def run(hosts, work: Path, rounds: int) -> None:
    from roost.lifecycle import machines as lifecycle
    from tests.e2e.test_serve_machines import spread_spec

    gateway_host, worker_host = hosts.hosts
    spec = spread_spec(work, gateway_host, worker_host, "v1")
    url = lifecycle.up(spec).url
    totals = {
        "kill9_requests": 0,
        "kill9_failed": 0,
        "kill9_resent": 0,
        "cut_requests": 0,
        "cut_failed": 0,
        "cut_resent": 0,
    }
    try:
        for round_ in range(1, rounds + 1):
            for name, value in one_round(hosts, spec, url).items():
                print(f"round{round_}_{name}={value}")
                if name in totals:
                    totals[name] += value
    finally:
        hosts.heal(worker_host.index)
        lifecycle.down("spread")
    for name, value in totals.items():
        print(f"total_{name}={value}")
    print(f"rounds={rounds}")


def one_round(hosts, spec: Path, url: str) -> dict[str, float]:
    """kill -9 of the gateway machine's replica, then the worker cut off, both under load; the
    worker healed and given its replica back at the end."""
    import threading

    from roost.lifecycle import machines as lifecycle
    from roost.session import load_session
    from tests.e2e.test_serve import load

    gateway_host, worker_host = hosts.hosts
    found: dict[str, float] = {}
    victim = next(r for r in roost.serve_status("spread").replicas if r.machine == "spread")
    agent, marks = load_session("spread").agent, {}

    def back_healthy() -> None:  # polls the agent while the load runs
        marks["back"] = _until(
            lambda: (
                (app := agent.status().apps.get(victim.name)) is not None
                and app.healthy
                and app.restarts > victim.restarts
            )
        )

    def kill() -> None:
        hosts.root(gateway_host.index, f"kill -9 {victim.pid}")  # its PID on that host
        marks["killed"] = time.monotonic()
        watcher.start()

    watcher = threading.Thread(target=back_healthy)
    resent: list = []
    answers, failures = load(url, 12.0, kill, pace=0.005, resent=resent)
    watcher.join()
    found.update(
        kill9_requests=sum(answers.values()),
        kill9_failed=len(failures),
        kill9_resent=len(resent),
        kill9_back_healthy_s=round(marks["back"] - marks["killed"], 2),
    )

    def cut() -> None:
        hosts.cut(worker_host.index)
        marks["cut"], marks["cut_wall"] = time.monotonic(), time.time()

    latencies: list = []
    resent = []
    answers, failures = load(url, 12.0, cut, latencies=latencies, pace=0.005, resent=resent)
    slow = [sent - marks["cut"] for sent, seconds in latencies if sent >= marks["cut"] - 1 and seconds > 0.5]
    _until(lambda: [r.machine for r in roost.serve_status("spread").replicas] == ["spread", "spread"], 60)
    replaced = [
        e for e in roost.serve_status("spread").events if e["event"] == "replaced" and e["at"] > marks["cut_wall"]
    ]
    found.update(
        cut_requests=sum(answers.values()),
        cut_failed=len(failures),
        cut_resent=len(resent),
        cut_waited_requests=len(slow),
        cut_moved_s=round(max(slow, default=0.0), 2),
        cut_slowest_answer_s=round(max(s for _, s in latencies), 2),
        cut_replaced_s=round(replaced[0]["at"] - marks["cut_wall"], 1),
    )
    hosts.heal(worker_host.index)
    lifecycle.up(spec, reconcile=True)  # the worker holds a replica again
    return found


def _until(check, timeout: float = 30.0) -> float:
    """The time ``check()`` first held (polling); RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
