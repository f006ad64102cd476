"""SSH benchmarks on real test hosts (network namespaces on this box; needs root).

  exec   - `roost exec NAME -- true` on a warm machine against bare `ssh -S <control socket>
           host true` over the same master connection: the library call and the CLI.
  sync   - first sync of ~500 MiB in 1,000 files: roost against bare `rsync -a -e ssh`.
  resync - re-sync of 10,000 unchanged files.
  tunnel - median time of a small HTTP GET (keep-alive, a server with Nagle off that writes
           headers and body apart, as uvicorn does) through roost's tunnel against a bare
           `ssh -N -L` to the same port.

Prints name=value lines. Rounds interleave roost and the baseline so both see the same load.

    python bench/ssh.py [--exec-rounds 50] [--sync-rounds 3] [--resync-rounds 5] [--exec-only]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import roost
from tests.harness.testhosts import TestHosts, can_run

APP = {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"}


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def make_files(root: Path, count: int, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(size)
    for index in range(count):
        (root / f"d{index % 20:02d}").mkdir(exist_ok=True)
        (root / f"d{index % 20:02d}" / f"f{index:05d}.bin").write_bytes(block[index % 97 :] + block[: index % 97])


def up_machine(name: str, host, workdir: Path, spec_dir: Path) -> None:
    import yaml

    spec = {
        "name": name,
        "backend": "ssh",
        "app": APP,
        "workdir": str(workdir),
        "hosts": [{"address": host.ip, "user": host.user, "key": host.key, "host_key": host.host_key_fingerprint}],
    }
    path = spec_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    roost.up(path)


def bench_exec(name: str, host, rounds: int) -> None:
    from roost.lifecycle.machines import open_session
    from roost.machine.state import State

    state = State()
    target = open_session(state, name).backend.target(state.get(name))  # type: ignore[attr-defined,arg-type]
    state.close()
    bare = [*target.ssh_argv(), "-o", "ControlMaster=no", target.label, "true"]
    cli = [sys.executable, "-m", "roost", "exec", name, "--", "true"]
    lib_times, bare_times, cli_times = [], [], []
    for _ in range(rounds):
        bare_times.append(timed(lambda: subprocess.run(bare, check=True)))
        lib_times.append(timed(lambda: roost.exec(name, ["true"])))
    for _ in range(max(5, rounds // 5)):
        cli_times.append(timed(lambda: subprocess.run(cli, check=True)))
    print(f"exec_bare_ms_median={statistics.median(bare_times) * 1000:.1f}")
    print(f"exec_roost_library_ms_median={statistics.median(lib_times) * 1000:.1f}")
    print(f"exec_overhead_library_ms={(statistics.median(lib_times) - statistics.median(bare_times)) * 1000:.1f}")
    print(f"exec_roost_cli_ms_median={statistics.median(cli_times) * 1000:.1f}")


def bench_sync(name: str, host, source: Path, rounds: int) -> None:
    from roost.lifecycle.machines import open_session
    from roost.machine.state import State

    state = State()
    record = state.get(name)
    target = open_session(state, name).backend.target(record)  # type: ignore[attr-defined,arg-type]
    state.close()
    workdir = f"{record.facts.home}/workdir"  # type: ignore[union-attr]
    rsh = shlex.join(target.ssh_argv())
    roost_times, bare_times = [], []
    for index in range(rounds):
        roost.exec(name, f"rm -rf {workdir}/* /home/{host.user}/bare-sync; sync")

        def bare() -> None:
            subprocess.run(
                ["rsync", "-a", "-e", rsh, f"{source}/", f"{target.label}:/home/{host.user}/bare-sync/"], check=True
            )

        # alternate who goes first: the second one pays for the first one's dirty pages
        for first in [bare, None] if index % 2 == 0 else [None, bare]:
            if first is bare:
                bare_times.append(timed(bare))
            else:
                roost_times.append(timed(lambda: roost.sync(name)))
            subprocess.run(["sync"], check=True)
        print(f"sync round {index + 1}: roost {roost_times[-1]:.2f}s  bare {bare_times[-1]:.2f}s", flush=True)
    roost.exec(name, f"rm -rf /home/{host.user}/bare-sync")
    print(f"sync_first_roost_s_median={statistics.median(roost_times):.3f}")
    print(f"sync_first_bare_s_median={statistics.median(bare_times):.3f}")
    print(f"sync_first_ratio={statistics.median(roost_times) / statistics.median(bare_times):.3f}")


def bench_resync(name: str, rounds: int) -> None:
    roost.sync(name)
    times = [timed(lambda: roost.sync(name)) for _ in range(rounds)]
    print(f"resync_10000_unchanged_s_median={statistics.median(times):.3f}")


REPLICA_SERVER = REPO / "tests" / "replica_server.py"  # headers and body written apart, Nagle off


def _get_times(port: int, count: int) -> list[float]:
    import http.client

    connection, times = http.client.HTTPConnection("127.0.0.1", port, timeout=10), []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", "/")
        connection.getresponse().read()
        times.append(time.perf_counter() - started)
    connection.close()
    return times


def bench_tunnel(name: str, host, rounds: int) -> None:
    from roost.agent.client import AppDefinition
    from roost.session import load_session
    from roost.transport.ssh.tunnel import close_tunnel, ensure_tunnel

    session = load_session(name)
    port, script = session.agent.free_port(), f"{session.record.facts.home}/replica_server.py"
    session.agent.runner.write_file(script, REPLICA_SERVER.read_bytes())
    digest = session.agent.put_app(
        AppDefinition(name="latency", argv=["python3", script, str(port)], port=port, health_path="/")
    )
    session.agent.wait_healthy("latency", 30, digest=digest)
    target = session.backend.target(session.record)
    roost_port = ensure_tunnel("bench-latency", target, port)
    bare_port = roost_port + 1 if roost_port < 65000 else roost_port - 1
    bare = subprocess.Popen(
        [
            *target.ssh_argv(master=False),
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{bare_port}:127.0.0.1:{port}",
            target.label,
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(
            ["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{bare_port}/"], check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise SystemExit("the bare ssh -N -L tunnel did not open")
            time.sleep(0.1)
        roost_times, bare_times = [], []
        for _ in range(rounds):  # interleaved, so both see the same load
            roost_times += _get_times(roost_port, 50)
            bare_times += _get_times(bare_port, 50)
    finally:
        bare.terminate()
        bare.wait()
        close_tunnel("bench-latency", forget=True)
        session.agent.remove_app("latency")
    print(f"tunnel_roost_get_ms_median={statistics.median(roost_times) * 1000:.2f}")
    print(f"tunnel_bare_ssh_N_get_ms_median={statistics.median(bare_times) * 1000:.2f}")
    print(f"tunnel_bare_over_roost_ratio={statistics.median(bare_times) / statistics.median(roost_times):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exec-rounds", type=int, default=50)
    parser.add_argument("--sync-rounds", type=int, default=8)
    parser.add_argument("--resync-rounds", type=int, default=5)
    parser.add_argument("--tunnel-rounds", type=int, default=4)
    parser.add_argument("--exec-only", action="store_true", help="only the exec_* figures (a small workdir)")
    args = parser.parse_args()
    reason = can_run()
    if reason:
        raise SystemExit(f"bench/ssh.py: {reason}")
    work = Path(tempfile.mkdtemp(prefix="roost-bench-ssh-"))
    os.environ["ROOST_HOME"] = str(work / "home")
    os.environ.setdefault("ROOST_CACHE_DIR", str(REPO / ".cache" / "roost"))
    hosts = TestHosts(2, prefix=f"b{os.getpid() % 1000:03d}x", net="10.252.0", directory=work / "hosts")
    try:
        [host, host2] = hosts.up()
        if args.exec_only:
            make_files(work / "tiny", 3, 1024)
            up_machine("bench-big", host, work / "tiny", work)
            bench_exec("bench-big", host, args.exec_rounds)
            return
        big, small = work / "big", work / "small"
        make_files(big, 1000, 512 * 1024)
        make_files(small, 10_000, 1024)
        up_machine("bench-big", host, big, work)
        bench_exec("bench-big", host, args.exec_rounds)
        bench_tunnel("bench-big", host, args.tunnel_rounds)
        bench_sync("bench-big", host, big, args.sync_rounds)
        up_machine("bench-small", host2, small, work)
        bench_resync("bench-small", args.resync_rounds)
    finally:
        for name in ("bench-big", "bench-small"):
            try:
                roost.down(name)
            except roost.RoostError:
                pass
        hosts.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
