"""A service spread over two real SSH test hosts: the gateway machine balances over its own
replica and one on a worker, reached through a port-forward-only tunnel. Cutting the
worker's network under load moves the traffic to the other replica within the probe
interval (only a response cut half-way can fail), and the controller puts a replacement on the gateway
machine, unless that machine has no room for one more replica of service.resources: then the lost
replica waits for its machine. `roost down` leaves nothing on either host."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import roost
from tests.e2e.test_gateway import host_entry, listening
from tests.e2e.test_serve import REPLICA, load, roost_cli
from tests.helpers import wait_for
from tests.hook_receiver import HookReceiver

ROOST = [sys.executable, "-m", "roost"]

pytestmark = pytest.mark.e2e


def spread_spec(
    tmp_path: Path, gateway_host, worker_host, version: str, resources: dict | None = None, notify: bool = True
) -> Path:
    work = tmp_path / "site"
    work.mkdir(exist_ok=True)
    (work / "replica.py").write_text(REPLICA.read_text())
    spec = tmp_path / f"spread-{version}.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "spread",
                "backend": "ssh",
                "hosts": [host_entry(gateway_host), host_entry(worker_host)],
                "workdir": str(work),
                "notify": ["$ROOST_TEST_HOOK"] if notify else [],
                "app": {"type": "command", "command": f"python3 replica.py {{port}} {version} {{host}}:{{port}}"},
                "service": {
                    "replicas": 2,
                    "machines": 2,
                    "probe": {"interval": "1s", "timeout": "1s"},
                    "resources": resources or {},
                },
            }
        )
    )
    return spec


def test_replicas_on_two_machines_survive_cutting_one(
    testhosts, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = HookReceiver()
    monkeypatch.setenv("ROOST_TEST_HOOK", f"json://127.0.0.1:{hook.port}/hook")
    gateway_host, worker_host = testhosts.hosts[0], testhosts.hosts[1]
    up = roost_cli("serve", str(spread_spec(tmp_path, gateway_host, worker_host, "v1")), timeout=600)
    assert up.returncode == 0, up.stderr
    assert "bring up 1 worker machine(s)" in up.stderr
    url = up.stdout.split("serving at ", 1)[1].split()[0]
    replicas = roost.serve_status("spread").replicas
    assert sorted(r.machine for r in replicas) == ["spread", "spread-w1"] and all(r.healthy for r in replicas)
    remote = next(r for r in replicas if r.machine == "spread-w1")

    # the worker's replica listens on its 127.0.0.1 only; the world sees its sshd and nothing else
    worker_public = {
        port
        for address, port in listening(testhosts, worker_host)
        if address not in ("0100007F", "00000000000000000000000001000000")
    }
    assert worker_public == {22}, worker_public
    # the gateway's tunnel key may forward to the replica's port and do nothing else
    keys = testhosts.root(worker_host.index, f"cat /home/{worker_host.user}/.ssh/authorized_keys").stdout
    line = next(line for line in keys.splitlines() if line.endswith("roost-service:spread"))
    assert line.startswith('restrict,pty,port-forwarding,permitopen="127.0.0.1:') and 'command="sleep ' in line
    home = f"/home/{gateway_host.user}/.roost/machines/spread"
    shell = testhosts.root(
        gateway_host.index,
        f"timeout 5 ssh -F /dev/null -i {home}/gateway/tunnel_key -o BatchMode=yes "
        f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"{worker_host.user}@{worker_host.ip} id; echo exit=$?",
    )
    assert "uid=" not in shell.stdout and "exit=0" not in shell.stdout, shell.stdout  # the forced command only waits
    # nor may it open a listener on the worker (ssh -R) that would hand the worker's connections out
    listen = testhosts.root(
        gateway_host.index,
        f"timeout 5 ssh -F /dev/null -i {home}/gateway/tunnel_key -o BatchMode=yes -o ExitOnForwardFailure=yes "
        f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -N -R 127.0.0.1:23456:127.0.0.1:22 "
        f"{worker_host.user}@{worker_host.ip}; echo exit=$?",
    )
    assert "remote port forwarding failed" in listen.stdout + listen.stderr and "exit=255" in listen.stdout, listen

    # a rolling update across both machines under load: no failed request, then only v2 answers
    finished: list[float] = []

    def roll() -> None:
        roll_started = time.monotonic()
        updated = roost_cli(
            "serve", "update", "spread", str(spread_spec(tmp_path, gateway_host, worker_host, "v2")), timeout=300
        )
        assert updated.returncode == 0, updated.stderr
        finished.append(time.monotonic())
        print(f"the rolling update took {finished[0] - roll_started:.1f}s")

    timeline: list = []
    answers, failures = load(url, 15.0, roll, timeline=timeline, pace=0.005)
    assert failures == [], failures[:5]
    assert {body.split()[-1] for sent, body in timeline if sent > finished[0]} == {"v2"}, answers
    replicas = roost.serve_status("spread").replicas
    assert sorted(r.machine for r in replicas) == ["spread", "spread-w1"] and all(r.healthy for r in replicas)
    print(f"rolling update across 2 machines: {sum(answers.values())} requests, {len(failures)} failed")

    cut_at: list[float] = []
    cut_wall: list[float] = []

    def cut() -> None:
        testhosts.cut(worker_host.index)
        cut_at.append(time.monotonic())
        cut_wall.append(time.time())

    timeline: list = []
    latencies: list = []
    # only `roost watch` tells anyone: the replacement below reaches the webhook as a notification
    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen([*ROOST, "watch", "--probe-every", "1"], stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the watcher has its own copy
    wait_for(lambda: b"watching" in (tmp_path / "watch.log").read_bytes() or watcher.poll() is not None, 30, "watch")
    try:
        answers, failures = load(url, 15.0, cut, timeline=timeline, latencies=latencies, pace=0.005)
        # a response the worker was sending when its network went can be lost half-way (headers
        # through, body not): the client sees that one fail, at most one per client connection
        assert len(failures) <= 4, failures[:5]
        from_worker = [sent for sent, body in timeline if body.startswith(worker_host.name)]
        assert from_worker and min(from_worker) < cut_at[0], answers  # it served before the cut
        assert max(from_worker) < cut_at[0] + 0.5  # nothing from the cut worker after the cut
        # requests that went to the cut worker wait until the balancer gives up on it and retries
        # them on the other replica; within the probe interval (1 s) and its timeout (1 s) that
        # stops: requests sent later are answered at once
        slow = [sent - cut_at[0] for sent, seconds in latencies if sent >= cut_at[0] - 1 and seconds > 0.5]
        moved = max(slow, default=0.0)
        after = [seconds for sent, seconds in latencies if sent > cut_at[0] + 2.5]
        print(
            f"requests: {sum(answers.values())}, failed: {len(failures)}, answers: {dict(answers)}; "
            f"{len(slow)} request(s) waited for the failover, the last sent {moved:.2f}s after the cut; "
            f"slowest answer {max(s for _, s in latencies):.2f}s"
        )
        assert moved <= 2.5, slow
        assert after and max(after) < 0.5, max(after)
        # the controller replaces the lost replica on the gateway machine
        deadline = time.monotonic() + 30
        while True:
            status = roost.serve_status("spread")
            if [r.machine for r in status.replicas] == ["spread", "spread"] and all(r.healthy for r in status.replicas):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        replaced = [e for e in status.events if e["event"] == "replaced" and e["machine"] == "spread-w1"]
        assert len(replaced) == 1 and replaced[0]["by"] in [r.name for r in status.replicas], status.events
        took = replaced[0]["at"] - cut_wall[0]
        print(f"the controller replaced the cut worker's replica on the gateway machine {took:.1f}s after the cut")
        assert took < 20
        sent = wait_for(lambda: hook.titled("spread: replica replaced"), 30, "the notification")
        assert len(sent) == 1 and "on spread-w1 stopped answering" in sent[0]["message"], hook.received
    finally:
        testhosts.heal(worker_host.index)
        watcher.terminate()
        watcher.wait(timeout=60)
        hook.close()

    # the worker is back: `roost serve` again puts a replica on it (and stops its stale one)
    again = roost_cli("serve", str(spread_spec(tmp_path, gateway_host, worker_host, "v2")), timeout=300)
    assert again.returncode == 0, again.stderr
    replicas = roost.serve_status("spread").replicas
    assert sorted(r.machine for r in replicas) == ["spread", "spread-w1"] and all(r.healthy for r in replicas)
    answers, failures = load(url, 3.0, lambda: None)
    assert failures == [] and {body.split(":")[0] for body in answers} == {gateway_host.name, worker_host.name}
    worker_apps = testhosts.root(
        worker_host.index, f"ls /home/{worker_host.user}/.roost/machines/spread-w1/agent/apps"
    ).stdout.split()
    assert worker_apps == [f"{next(r.name for r in replicas if r.machine == 'spread-w1')}.json"], worker_apps

    # with room for one replica of service.resources on the gateway machine, a lost worker's
    # replica is not replaced there: it waits for its machine and serves again when it is back
    total_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024  # the test hosts share it
    tight = spread_spec(tmp_path, gateway_host, worker_host, "v2", resources={"memory": f"{0.6 * total_gib:.2f}GiB"})
    again = roost_cli("serve", str(tight), timeout=300)
    assert again.returncode == 0, again.stderr
    testhosts.cut(worker_host.index)
    try:
        wait_for(
            lambda: any(e["event"] == "no room" for e in roost.serve_status("spread").events),
            timeout=40,
            what="the controller to find no room for a replacement",
        )
        status = roost.serve_status("spread")
        assert sorted(r.machine for r in status.replicas) == ["spread", "spread-w1"], status
        assert [r.healthy for r in status.replicas if r.machine == "spread-w1"] == [False], status
        assert "no room 1 of 1 here (its service.resources)" in roost_cli("serve", "status", "spread").stdout
    finally:
        testhosts.heal(worker_host.index)
    wait_for(
        lambda: all(r.healthy for r in roost.serve_status("spread").replicas),
        timeout=60,
        what="the worker's replica to serve again",
    )
    assert [e["event"] for e in roost.serve_status("spread").events].count("no room") == 1

    down = roost_cli("down", "spread", timeout=300)
    assert down.returncode == 0, down.stderr
    keys = testhosts.root(worker_host.index, f"cat /home/{worker_host.user}/.ssh/authorized_keys").stdout
    assert "roost-service:spread" not in keys
    left = testhosts.root(worker_host.index, f"ls /home/{worker_host.user}/.roost/machines").stdout.split()
    assert "spread-w1" not in left and remote.name
    assert roost_cli("status").stdout.count("spread") == 0


def test_an_unreachable_worker_host_is_named_and_nothing_serves_half(
    testhosts, roost_home: Path, tmp_path: Path
) -> None:
    gateway_host = testhosts.hosts[0]
    spec = spread_spec(tmp_path, gateway_host, testhosts.hosts[1], "v1", notify=False)
    data = yaml.safe_load(spec.read_text())
    data["hosts"][1] = {**data["hosts"][1], "address": "10.251.0.250", "connect_timeout": 3}  # nobody there
    spec.write_text(yaml.safe_dump(data))
    up = roost_cli("serve", str(spec), timeout=300)
    assert up.returncode == 1
    assert "10.251.0.250" in up.stderr and "bring up 1 worker machine(s)" in up.stderr, up.stderr
    public = {
        port
        for address, port in listening(testhosts, gateway_host)
        if address not in ("0100007F", "00000000000000000000000001000000")
    }
    assert public == {22}, public  # no balancer, no replica was started on the gateway machine
    print(up.stderr[-600:])
    assert roost_cli("down", "spread", timeout=300).returncode == 0
