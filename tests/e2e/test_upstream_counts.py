"""Requests per replica: real Caddy with roost's Caddyfile, real wrk, the controller's log reader.

The balancer logs each round trip to an upstream to a file it rolls at 5 MiB; the reader
must count every answered request once per upstream, across a roll, and nothing else.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from roost.gateway.caddyfile import caddyfile
from tests.helpers import answers, free_port, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "roost" / "agent"))
from roost_agent.upstream_stats import UpstreamStats


def start_caddy(config: str, directory: Path, name: str) -> subprocess.Popen:
    path = directory / f"{name}.caddyfile"
    path.write_text(config)
    env = dict(
        os.environ, XDG_DATA_HOME=str(directory / name), XDG_CONFIG_HOME=str(directory / name), HOME=str(directory)
    )
    return subprocess.Popen(
        ["caddy", "run", "--config", str(path), "--adapter", "caddyfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(directory / f"{name}.log", "wb"),
    )


def test_each_answered_request_is_counted_once_for_its_replica_across_a_log_roll(tmp_path: Path) -> None:
    first, second, broken, dead, front, health = (free_port() for _ in range(6))
    replicas = start_caddy(
        "{\n\tadmin off\n}\n"
        + "".join(f'http://127.0.0.1:{port} {{\n\tbind 127.0.0.1\n\trespond "{port}"\n}}\n' for port in (first, second))
        + f'http://127.0.0.1:{broken} {{\n\tbind 127.0.0.1\n\trespond "down" 503\n}}\n',
        tmp_path,
        "replicas",
    )
    log = tmp_path / "upstreams.log"
    balancer = start_caddy(
        caddyfile(
            address=None,
            tls_files=None,
            upstreams=[first, second, broken, dead],
            health_port=health,
            users_file=None,
            admin=str(tmp_path / "admin.sock"),
            plain_port=front,
            upstream_log=str(log),
        ),
        tmp_path,
        "balancer",
    )
    try:
        wait_for(
            lambda: answers(f"http://127.0.0.1:{health}/health") and answers(f"http://127.0.0.1:{first}/"),
            what="the balancer and the replicas",
        )
        stats = UpstreamStats(str(log), window=600)
        load = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d6s", f"http://127.0.0.1:{front}/"], stdout=subprocess.PIPE, text=True
        )
        while load.poll() is None:  # the controller reads each second; more often here, as a roll comes sooner
            stats.read(time.time())
            time.sleep(0.25)
        report = load.stdout.read() if load.stdout else ""
        done = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
        time.sleep(0.5)
        stats.read(time.time())
    finally:
        for process in (balancer, replicas):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    rolled = [path.name for path in tmp_path.iterdir() if path.name.startswith("upstreams-")]
    assert rolled, f"the log did not roll in {done} requests: make the load longer"
    counted = stats.summary(time.time())
    good = counted[f"127.0.0.1:{first}"]["requests"] + counted[f"127.0.0.1:{second}"]["requests"]
    bad, refused = counted[f"127.0.0.1:{broken}"], counted[f"127.0.0.1:{dead}"]
    # wrk leaves out the requests still open when it stops (at most one per connection)
    assert done <= good + bad["errors"] + refused["errors"] <= done + 16, (done, counted)
    print(f"wrk: {done} requests; counted per replica: {counted}; rolled: {rolled}")
    # the 503s (a replica's answer) and the 502s (nothing listens) wrk saw are errors of their
    # replicas, not requests they answered
    failed = bad["errors"] + refused["errors"]
    assert non_2xx and int(non_2xx.group(1)) <= failed <= int(non_2xx.group(1)) + 16, (report, counted)
    assert bad["requests"] == refused["requests"] == 0 and refused["errors"] > 0
    # the balancer picks at random among four: each gets about a quarter
    for entry in counted.values():
        assert abs(entry["requests"] + entry["errors"] - (good + failed) / 4) < 0.1 * done, counted
    assert counted[f"127.0.0.1:{first}"]["mean_ms"] > 0 and bad["mean_ms"] > 0
