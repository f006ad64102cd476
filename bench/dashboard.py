"""Dashboard benchmark: `roost server` over synthetic state (no machine is contacted).

  api_machines_1000_p50_ms   GET /api/v1/machines with 1,000 machines in state (target <= 50)
  page_machines_100_ttfb_ms  the machines page with 100 machines: time to first byte (target <= 100)
  server_idle_cpu_percent    the server with 100 machines, no requests, probing every 10 s (target <= 1)
  healthz_p50_ms             the baseline, measured in the same run: the same server's /healthz

The synthetic machines are local-backend records whose folders do not exist, so the background
probe finds them gone without any network. Each server waits for its first probe to end first.

    python bench/dashboard.py [--requests 200] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_home(count: int) -> Path:
    """A ROOST_HOME with ``count`` machine records."""
    home = Path(tempfile.mkdtemp(prefix=f"roost-bench-{count}-"))
    os.environ["ROOST_HOME"] = str(home)
    from roost.lifecycle.machines import _new_record
    from roost.machine.state import State
    from roost.spec.loader import spec_for_app

    state = State(home)
    for index in range(count):
        state.save(_new_record(spec_for_app("jupyter", f"m{index:04d}")))
    state.close()
    return home


class Server:
    """A `roost server` on a home of its own, with its login token."""

    def __init__(self, home: Path, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "roost", "server", "--port", str(port), "--probe-every", "10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "ROOST_HOME": str(home)},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.token = line.split("?token=", 1)[1].strip()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        deadline = time.monotonic() + 600
        while json.loads(self.get("/api/v1/server")[1])["probed_at"] is None:
            if time.monotonic() > deadline:
                raise SystemExit("the first probe never ended")
            time.sleep(0.2)

    def get(self, path: str, headers: dict | None = None) -> tuple[float, bytes]:
        """Seconds to the first byte (the response's headers), and the body."""
        started = time.perf_counter()
        self.connection.request("GET", path, headers={"Authorization": f"Bearer {self.token}", **(headers or {})})
        response = self.connection.getresponse()
        first_byte = time.perf_counter() - started
        body = response.read()
        assert response.status == 200, (path, response.status, body[:200])
        return first_byte, body

    def p50_ms(self, path: str, requests: int) -> float:
        for _ in range(5):
            self.get(path)  # warm: templates compiled, caches filled
        return statistics.median(self.get(path)[0] for _ in range(requests)) * 1000

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def end(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    big = Server(make_home(1000), free_port())
    try:
        machines = big.p50_ms("/api/v1/machines", args.requests)
        assert len(json.loads(big.get("/api/v1/machines")[1])) == 1000
        healthz = big.p50_ms("/healthz", args.requests)
    finally:
        big.end()
    small = Server(make_home(100), free_port())
    try:
        page = small.p50_ms("/", args.requests)
        assert small.get("/")[1].count(b"<tr data-name=") == 100
        before, started = small.cpu_seconds(), time.monotonic()
        time.sleep(args.idle_seconds)  # the measurement itself: the server left alone
        idle = 100 * (small.cpu_seconds() - before) / (time.monotonic() - started)
    finally:
        small.end()
    print(f"api_machines_1000_p50_ms={machines:.1f}")
    print(f"page_machines_100_ttfb_ms={page:.1f}")
    print(f"server_idle_cpu_percent={idle:.2f}")
    print(f"healthz_p50_ms={healthz:.2f}")
    print(f"api_machines_1000_vs_healthz={machines / healthz:.1f}")


if __name__ == "__main__":
    main()
