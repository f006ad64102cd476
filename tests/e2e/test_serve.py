"""Services for real on the local backend: replicas under the agent behind Caddy as the load
balancer. Under steady (bounded) load, kill -9 of a replica costs the client nothing and the
replica is back healthy within 10 s."""

from __future__ import annotations

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

import roost
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]
REPLICA = Path(__file__).resolve().parents[1] / "replica_server.py"


def roost_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOST, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def service_spec(tmp_path: Path, name: str, service: dict, version: str = "v1") -> Path:
    work = tmp_path / "site"
    work.mkdir(exist_ok=True)
    (work / "replica.py").write_text(REPLICA.read_text())
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "workdir": str(work),
                "service": service,
                "app": {"type": "command", "command": f"python3 replica.py {{port}} {version}"},
            }
        )
    )
    return path


def load(
    url: str,
    seconds: float,
    on_the_way: callable,
    workers: int = 4,
    timeline: list | None = None,
    stop: threading.Event | None = None,
    latencies: list | None = None,
    pace: float = 0.0,
    resent: list | None = None,
) -> tuple[collections.Counter, list]:
    """GETs from ``workers`` keep-alive clients for ``seconds`` (at most 20,000 requests);
    ``on_the_way`` runs after a third of the time, and the load goes on for at least another
    third after it returned (however long it took). Returns (answers per replica, failures);
    ``timeline`` gets (time the request was sent, answer) for each, ``latencies`` (time sent,
    seconds to its answer); ``stop`` ends it early; ``pace``: each client waits this long
    between requests (so the budget lasts); ``resent`` gets the requests sent again because an
    idle keep-alive connection closed under them."""
    stop = stop or threading.Event()
    parts = urlsplit(url)
    answers: collections.Counter = collections.Counter()
    failures: list = []
    retried: list = []
    stop_at, budget = [time.monotonic() + seconds], [20_000]
    lock = threading.Lock()

    def client() -> None:
        connection = None
        while time.monotonic() < stop_at[0] and not stop.is_set():
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            sent = time.monotonic()
            for attempt in (1, 2):
                try:
                    connection = connection or http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
                    connection.request("GET", "/")
                    response = connection.getresponse()
                    body = response.read().decode()
                except (OSError, http.client.HTTPException) as exc:
                    connection = None
                    # an idle keep-alive connection closed under the request (a config reload ends
                    # idle ones): sent again once on a new connection, as browsers and urllib3 do
                    if attempt == 1 and isinstance(
                        exc, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)
                    ):
                        with lock:
                            retried.append(repr(exc))
                        continue
                    with lock:
                        failures.append(repr(exc))
                    break
                with lock:
                    (answers.update([body]) if response.status == 200 else failures.append(response.status))
                    if timeline is not None:
                        timeline.append((sent, body))
                    if latencies is not None:
                        latencies.append((sent, time.monotonic() - sent))
                break
            if pace:
                time.sleep(pace)

    threads = [threading.Thread(target=client) for _ in range(workers)]
    for thread in threads:
        thread.start()
    stop.wait(seconds / 3)
    stop_at[0] = float("inf")  # no client may stop while on_the_way runs, however long it takes
    on_the_way()
    stop_at[0] = time.monotonic() + seconds / 3
    for thread in threads:
        thread.join()
    if resent is not None:
        resent.extend(retried)
    if retried:
        print(f"{len(retried)} request(s) sent again after an idle connection closed: {retried[:3]}")
    return answers, failures


def test_kill_9_of_a_replica_under_load_fails_no_request(roost_home: Path, tmp_path: Path) -> None:
    up = roost_cli(
        "serve", str(service_spec(tmp_path, "svc", {"replicas": 2, "probe": {"interval": "1s"}, "window": "300s"}))
    )
    assert up.returncode == 0, up.stderr
    assert "start 2 replica(s) of command" in up.stderr
    url = up.stdout.split("serving at ", 1)[1].split()[0]
    ports = [r.port for r in roost.serve_status("svc").replicas]
    assert len(set(ports)) == 2
    # the balancer listens on 127.0.0.1 only (reached through roost's tunnel elsewhere)
    listeners = Path("/proc/net/tcp").read_text()
    lb_port = urlsplit(url).port
    assert f"0100007F:{lb_port:04X} 00000000:0000 0A" in listeners
    assert f"00000000:{lb_port:04X} 00000000:0000 0A" not in listeners

    victim = roost.serve_status("svc").replicas[0]
    killed_at: list[float] = []

    def kill() -> None:
        os.kill(victim.pid, signal.SIGKILL)
        killed_at.append(time.monotonic())

    resent: list = []
    answers, failures = load(url, 9.0, kill, pace=0.005, resent=resent)
    assert failures == [], failures[:5]
    assert answers[f"replica {ports[0]} v1"] > 0 and answers[f"replica {ports[1]} v1"] > 0, answers
    # the agent brings it back healthy within 10 s of the kill
    while True:
        now = roost.serve_status("svc").replicas[0]
        if now.healthy and now.restarts >= 1 and now.pid != victim.pid:
            break
        assert time.monotonic() - killed_at[0] < 10, now
        time.sleep(0.2)
    shown = roost_cli("serve", "status", "svc", "--json")
    status = json.loads(shown.stdout)
    assert status["name"] == "svc" and status["url"] == url
    assert [r["healthy"] for r in status["replicas"]] == [True, True] and status["replicas"][0]["restarts"] >= 1

    # each replica's count in the window is what the client got from it (a request sent again
    # after an idle connection closed may have reached a replica the first time too)
    def counted() -> dict[int, int]:
        return {r.port: r.requests for r in roost.serve_status("svc").replicas}

    expected = {port: answers[f"replica {port} v1"] for port in ports}
    wait_for(
        lambda: all(expected[port] <= (counted()[port] or 0) for port in ports),
        timeout=10,
        what=f"the controller to count {expected}",
    )
    assert sum(counted().values()) <= sum(expected.values()) + len(resent), (counted(), expected, resent)
    shown = roost_cli("serve", "status", "svc").stdout
    assert "(per replica: over the last 300 s)" in shown
    for replica in status["replicas"]:
        line = next(line for line in shown.splitlines() if replica["name"] in line)
        assert " req/s " in line and " err/s " in line and " ms " in line, shown

    # a rolling update under load: no failed request, and after it only the new release answers
    new_release = service_spec(tmp_path, "svc", {"replicas": 2, "probe": {"interval": "1s"}}, version="v2")
    finished: list[float] = []

    def roll() -> None:
        updated = roost_cli("serve", "update", "svc", str(new_release))
        assert updated.returncode == 0, updated.stderr
        finished.append(time.monotonic())

    timeline: list = []
    answers, failures = load(url, 15.0, roll, timeline=timeline, pace=0.005)
    assert failures == [], failures[:5]
    after = {body.split()[-1] for sent, body in timeline if sent > finished[0]}
    assert after == {"v2"} and any(body.endswith("v1") for _, body in timeline), answers
    assert [r.name for r in roost.serve_status("svc").replicas] == ["command-3", "command-4"]

    # a release whose probe never answers: rolled back, the running release keeps serving
    broken = service_spec(
        tmp_path,
        "svc",
        {"replicas": 2, "probe": {"path": "/never", "interval": "1s", "ready_within": "3s"}},
        version="v3",
    )
    outcome: list = []
    answers, failures = load(url, 9.0, lambda: outcome.append(roost_cli("serve", "update", "svc", str(broken))))
    serving = [r.port for r in roost.serve_status("svc").replicas]
    assert failures == [] and set(answers) == {f"replica {port} v2" for port in serving}, (answers, failures[:5])
    assert outcome[0].returncode == 1 and "was not healthy after 3s" in outcome[0].stderr
    assert "the replicas that served before still serve" in outcome[0].stderr
    assert [r.name for r in roost.serve_status("svc").replicas] == ["command-3", "command-4"]

    # stop and start: the same replicas of the same release answer again at the same address
    assert roost_cli("stop", "svc").returncode == 0
    assert roost_cli("start", "svc").returncode == 0
    import urllib.request

    bodies = {urllib.request.urlopen(url, timeout=10).read().decode() for _ in range(8)}
    assert bodies == {f"replica {port} v2" for port in serving}, bodies
    assert roost_cli("down", "svc").returncode == 0


def test_service_bad_input_is_refused_clearly(roost_home: Path, tmp_path: Path) -> None:
    backwards = roost_cli("serve", str(service_spec(tmp_path, "bad", {"min": 3, "max": 2})))
    assert backwards.returncode == 1 and "max (2) is less than min (3)" in backwards.stderr
    jupyter = tmp_path / "nb.yaml"
    jupyter.write_text(yaml.safe_dump({"name": "nb", "app": "jupyter", "service": {"replicas": 2}}))
    refused = roost_cli("serve", str(jupyter))
    assert refused.returncode == 1 and "runs replicas of an app of type command or streamlit" in refused.stderr
    never = roost_cli(
        "serve",
        str(
            service_spec(
                tmp_path, "never", {"replicas": 1, "probe": {"path": "/never", "interval": "1s", "ready_within": "4s"}}
            )
        ),
    )
    assert never.returncode == 1 and "app 'command-1' was not healthy after 4s" in never.stderr, never.stderr
    assert "the probe of replica command-1 never answered" in never.stderr
    assert roost_cli("down", "never").returncode == 0
    # more replicas than the machine holds: what is missing is said, nothing starts
    cpus = os.cpu_count() or 1
    big = service_spec(tmp_path, "big", {"replicas": 3, "resources": {"cpus": cpus, "memory": "1GiB"}})
    refused = roost_cli("serve", str(big))
    assert refused.returncode == 1, refused.stderr
    assert (
        f"machine 'big' cannot hold 3 replicas: 3 × {cpus} CPUs = {3 * cpus} CPUs, it has {cpus} "
        f"({2 * cpus} missing)" in refused.stderr
    )
    assert json.loads(roost_cli("serve", "status", "big", "--json").stdout)["replicas"] == []
    assert roost_cli("down", "big").returncode == 0
    # a command that ignores {port}: every replica but one finds the address taken
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(
        yaml.safe_dump(
            {
                "name": "fixed",
                "service": {"replicas": 2, "probe": {"ready_within": "5s"}},
                "app": {"type": "command", "command": "python3 -m http.server 18765 --bind 127.0.0.1"},
            }
        )
    )
    clash = roost_cli("serve", str(fixed))
    assert clash.returncode == 1 and "its address is already in use" in clash.stderr, clash.stderr
    assert "put {port} in the app's command" in clash.stderr
    assert roost_cli("down", "fixed").returncode == 0


def test_shared_service_is_one_https_address_with_a_login_and_sticky_sessions(
    testhosts, roost_home: Path, tmp_path: Path
) -> None:
    import base64
    import ssl
    import urllib.request

    from roost.gateway.site import https_status
    from tests.e2e.test_gateway import host_entry, listening

    host = testhosts.hosts[0]
    spec = service_spec(tmp_path, "team-svc", {"replicas": 2, "sticky": True, "probe": {"interval": "1s"}})
    data = yaml.safe_load(spec.read_text())
    spec.write_text(yaml.safe_dump({**data, "backend": "ssh", "hosts": [host_entry(host)], "share": True}))
    up = roost_cli("serve", str(spec), timeout=600)
    assert up.returncode == 0, up.stderr
    url, ca = f"https://{host.ip}/", roost.trust("team-svc")
    assert https_status(url, ca) == 401  # nobody gets in without a login
    password = roost.add_user("team-svc", "alice")
    assert https_status(url, ca, auth=("alice", password)) == 200
    public = {
        port
        for address, port in listening(testhosts, host)
        if address not in ("0100007F", "00000000000000000000000001000000")
    }
    assert public == {22, 443}, public

    context = ssl.create_default_context(cafile=str(ca))
    login = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()

    def fetch(cookie: str | None) -> tuple[str, str | None]:
        request = urllib.request.Request(
            url, headers={"Authorization": login, **({"Cookie": cookie} if cookie else {})}
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.read().decode(), response.headers.get("Set-Cookie")

    fresh = {fetch(None)[0] for _ in range(12)}  # no cookie: spread over both replicas
    assert len(fresh) == 2, fresh
    first, cookie = fetch(None)
    assert cookie and cookie.startswith("roost_replica=")
    pinned = {fetch(cookie.split(";", 1)[0])[0] for _ in range(12)}  # with the cookie: one replica
    assert pinned == {first}
    # the app never sees the user's password: the gateway drops the Authorization header
    with urllib.request.urlopen(
        urllib.request.Request(url + "auth", headers={"Authorization": login}), context=context, timeout=10
    ) as response:
        assert response.read().decode() == "authorization: none"

    # a removed user stays removed when the service's controller renders the config again
    # (as it does on every scaling step or replacement): it reads the users from their one file
    roost.remove_user("team-svc", "alice")
    assert https_status(url, ca, auth=("alice", password)) == 401
    from roost.machine.state import State
    from roost.session import open_session

    state = State()
    agent = open_session(state, "team-svc").agent
    state.close()
    config = f"{agent.home}/gateway/controller.json"
    reload = (
        f"import sys; sys.path.insert(0, {agent.path!r}); from roost_agent.base import Paths; "
        f"from roost_agent.controller import Controller; Controller(Paths({agent.home!r}), {config!r}).reload()"
    )
    assert roost.exec("team-svc", ["python3", "-c", reload]).ok
    assert https_status(url, ca, auth=("alice", password)) == 401
    bob = roost.add_user("team-svc", "bob")
    assert https_status(url, ca, auth=("bob", bob)) == 200
    assert roost_cli("users", "add", "team-svc", "carol\n").returncode == 1  # a name is matched whole
    assert roost_cli("down", "team-svc").returncode == 0


def test_autoscaling_adds_a_replica_under_load_and_removes_it_after_the_cooldown(
    roost_home: Path, tmp_path: Path
) -> None:
    spec = service_spec(
        tmp_path,
        "auto",
        {"min": 1, "max": 2, "target_rps": 20, "window": "3s", "cooldown": "4s", "probe": {"interval": "1s"}},
    )
    up = roost_cli("serve", str(spec))
    assert up.returncode == 0, up.stderr
    assert "start the autoscaler (1-2 replicas, 20 requests/s each)" in up.stderr
    url = up.stdout.split("serving at ", 1)[1].split()[0]
    assert len(roost.serve_status("auto").replicas) == 1

    stop = threading.Event()
    outcome: dict = {}

    def steady_load() -> None:  # bounded: stops when told, or after 60 s / 30,000 requests
        outcome["answers"], outcome["failures"] = load(url, 60.0, lambda: None, workers=3, stop=stop)

    loader = threading.Thread(target=steady_load)
    started = time.monotonic()
    loader.start()
    try:
        while len(roost.serve_status("auto").replicas) < 2:  # well above 20 requests/s for one replica
            assert time.monotonic() - started < 20, roost.serve_status("auto")
            time.sleep(0.5)
        scaled_up = roost.serve_status("auto")
        assert all(r.healthy for r in scaled_up.replicas) and scaled_up.desired == 2
    finally:
        stop.set()
    loader.join()
    assert outcome["failures"] == [], outcome["failures"][:5]
    assert len({body for body in outcome["answers"]}) == 2  # both replicas served
    quiet = time.monotonic()
    while len(roost.serve_status("auto").replicas) > 1:  # no load: back to min after window + cooldown
        assert time.monotonic() - quiet < 25, roost.serve_status("auto")
        time.sleep(0.5)
    assert time.monotonic() - quiet >= 3  # not before the rate fell over the window
    assert roost_cli("down", "auto").returncode == 0
