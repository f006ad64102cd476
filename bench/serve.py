"""Service benchmark: `wrk` against one replica directly and through roost's load balancer.

On the local backend (a new ROOST_HOME), a service of a small keep-alive HTTP server (stdlib
asyncio, one process per replica) behind Caddy, all on 127.0.0.1. In the same run:
  direct   - wrk against replica 1's own port;
  lb_1     - wrk through the balancer with 1 replica;
  direct_one/lb_one - the same two with one connection (a request at a time: no queueing);
  busy_1/2 - wrk through the balancer with 1, then 2 replicas (`roost serve` with replicas: 2).
The latency pair answers at once; the throughput pair spends --work-ms of CPU per request
(a model's compute), so the replicas, not the balancer, bound it. Alternating rounds;
medians. Prints name=value lines:
  p50_overhead_ms  = median p50(lb_1) - median p50(direct)   (target <= 1 ms)
  p50_overhead_one_connection_ms = the same with one connection
  scale_2_vs_1     = median rps(lb_2) / median rps(lb_1)      (target >= 1.8 with the cores for it)
  cores            = the CPUs wrk, Caddy and the replicas share here

    python bench/serve.py [--rounds 3] [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SERVER = """
import asyncio, sys
import time
PORT, WORK = int(sys.argv[1]), float(sys.argv[2]) / 1000
BODY = b"ok " + str(PORT).encode()
RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s" % (len(BODY), BODY)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            if not head:
                break
            if WORK:  # a model's compute: the CPU is busy, the replica serves nothing else meanwhile
                end = time.perf_counter() + WORK
                while time.perf_counter() < end:
                    pass
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """(p50 latency in ms, requests per second) from one wrk run."""
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    match = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not match or not rate:
        raise SystemExit(f"wrk printed no latency or rate:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale, float(rate.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--work-ms", type=float, default=2.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="roost-bench-serve-") as work:
        os.environ["ROOST_HOME"] = f"{work}/home"
        run(Path(work), args.rounds, args.seconds, args.connections, args.work_ms)


def run(work: Path, rounds: int, seconds: int, connections: int, work_ms: float) -> None:
    import yaml

    import roost

    site = work / "site"
    site.mkdir()
    (site / "server.py").write_text(SERVER)

    def bring_up(replicas: int, busy_ms: float) -> str:
        spec = work / "bench.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "benchsvc",
                    "workdir": str(site),
                    "app": {"type": "command", "command": f"python3 server.py {{port}} {busy_ms}"},
                    "service": {"replicas": replicas, "probe": {"interval": "5s"}},
                }
            )
        )
        return roost.up(spec).url or ""

    samples: dict[str, list[tuple[float, float]]] = {
        "direct": [],
        "lb_1": [],
        "direct_one": [],
        "lb_one": [],
        "busy_1": [],
        "busy_2": [],
    }
    try:
        for _ in range(rounds):
            lb = bring_up(1, 0)
            direct = f"http://127.0.0.1:{roost.serve_status('benchsvc').replicas[0].port}/"
            samples["direct"].append(wrk(direct, seconds, connections))
            samples["lb_1"].append(wrk(lb, seconds, connections))
            samples["direct_one"].append(wrk(direct, seconds, 1))
            samples["lb_one"].append(wrk(lb, seconds, 1))
            samples["busy_1"].append(wrk(bring_up(1, work_ms), seconds, connections))
            samples["busy_2"].append(wrk(bring_up(2, work_ms), seconds, connections))
    finally:
        roost.down("benchsvc")
    p50 = {name: statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    rps = {name: statistics.median(s[1] for s in runs) for name, runs in samples.items()}
    for name in samples:
        print(f"{name}_p50_ms={p50[name]:.3f}")
        print(f"{name}_rps={rps[name]:.0f}")
    print(f"p50_overhead_ms={p50['lb_1'] - p50['direct']:.3f}")
    print(f"p50_overhead_one_connection_ms={p50['lb_one'] - p50['direct_one']:.3f}")
    print(f"scale_2_vs_1={rps['busy_2'] / rps['busy_1']:.2f}")
    print(f"work_ms={work_ms:g}")
    print(f"cores={os.cpu_count()}")
    print(f"connections={connections}")


if __name__ == "__main__":
    main()
