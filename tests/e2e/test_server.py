"""``roost server`` for real: a local Jupyter, a local service and a job behind the API and the
dashboard, driven by Playwright in Debian's Chromium. Screenshots of every page land in
test-artifacts/server-*.png."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost
from tests.browser import ARTIFACTS, chromium
from tests.e2e.test_serve import roost_cli, service_spec
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.e2e
WIDTH, HEIGHT = 1400, 900


class Server:
    """A ``roost server`` process of this test's ROOST_HOME (ended by its PID)."""

    def __init__(self, home: Path, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out, self.err = log_dir / "server.out", log_dir / "server.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "roost", "server", "--port", str(self.port), "--probe-every", "1"],
                stdout=out,
                stderr=err,
                env={**os.environ, "ROOST_HOME": str(home)},
            )
        line = wait_for(lambda: "?token=" in self.out.read_text() and self.out.read_text(), 60, "the login URL")
        self.login = next(word for word in str(line).split() if "?token=" in word)
        self.token = self.login.split("?token=", 1)[1]

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, object]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        return self.call(method, "/api/v1" + path, body, {"Authorization": f"Bearer {self.token}"})

    def end(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def test_the_dashboard_and_api_over_a_jupyter_a_service_and_a_job(roost_home: Path, tmp_path: Path) -> None:
    assert roost.up("jupyter", name="nb").url
    served = roost_cli("serve", str(service_spec(tmp_path, "svc", {"replicas": 2, "probe": {"interval": "1s"}})))
    assert served.returncode == 0, served.stderr
    server = Server(roost_home, tmp_path)
    try:
        _api_checks(server, tmp_path)
        _cli_through_server(server, tmp_path)
        _browser_checks(server, tmp_path)
        _two_downs_at_once(server)
    finally:
        server.end()
    # the token went to the terminal once (stdout), never into the server's log
    assert server.token not in server.err.read_text()
    assert "GET / 303" in server.err.read_text()  # the log-in request was logged, without its query


def _api_checks(server: Server, tmp_path: Path) -> None:
    assert server.call("GET", "/api/v1/machines")[0] == 401
    assert server.call("GET", "/api/v1/machines", headers={"Authorization": "Bearer wrong"})[0] == 401
    status, machines = server.api("GET", "/machines")
    assert status == 200 and {m["name"] for m in machines} == {"nb", "svc"}
    assert server.api("GET", "/machines/nope")[0] == 404
    status, error = server.api(
        "POST", "/machines", {"spec": "name: bad\napp: jupyter\nresources:\n  cpus: lots\n", "file": "bad.yaml"}
    )
    assert status == 422 and error["file"] == "bad.yaml" and error["line"] == 4 and error["field"] == "resources.cpus"
    assert "bad.yaml:4" in error["error"]  # the same words as the CLI's
    assert server.call("GET", "/api/v1/openapi.json", headers={"Authorization": f"Bearer {server.token}"})[0] == 200

    # a cookie alone does not change anything: not from another origin, not without the CSRF token
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", _session_cookie(server))]
    for headers in ({"Origin": "http://evil.example"}, {"Origin": server.url}):
        request = urllib.request.Request(server.url + "/api/v1/machines/nb/stop", method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(request, timeout=30)
        assert refused.value.code == 403
    assert roost.status("nb")[0].state.value == "running"

    job_spec = {"name": "trainer", "backend": "local", "run": "for i in $(seq 1 600); do echo line $i; sleep 0.2; done"}
    status, job = server.api("POST", "/jobs", {"spec": yaml.safe_dump(job_spec)})
    assert status == 200 and job["detached"], job
    (tmp_path / "job.json").write_text(json.dumps(job))


def _cli_through_server(server: Server, tmp_path: Path) -> None:
    """The CLI with ROOST_SERVER uses the server's state and verbs, not its own (an empty home here)."""
    env = {**os.environ, "ROOST_HOME": str(tmp_path / "elsewhere"), "ROOST_SERVER": server.url}

    def cli(*args: str, token: str = server.token) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "roost", *args], capture_output=True, text=True, timeout=300,
            env={**env, "ROOST_SERVER_TOKEN": token},
        )  # fmt: skip

    listed = cli("status", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {m["name"] for m in json.loads(listed.stdout)} == {m["name"] for m in server.api("GET", "/machines")[1]}
    spec = tmp_path / "remote.yaml"
    spec.write_text(yaml.safe_dump({"name": "remote", "backend": "local"}))
    made = cli("up", str(spec))
    assert made.returncode == 0 and "remote is up" in made.stdout, made.stderr
    assert [m.name for m in roost.status("remote")] == ["remote"]  # in the server's state
    assert not (tmp_path / "elsewhere" / "state.db").exists()
    refused = cli("status", token="wrong")
    assert refused.returncode == 1 and "wrong token" in refused.stderr and "Traceback" not in refused.stderr
    assert cli("down", "remote").returncode == 0
    assert "remote" not in {m.name for m in roost.status()}


def _two_downs_at_once(server: Server) -> None:
    """A second down while one runs waits for the machine's lock: one takes it down, the other
    finds it gone (404); neither is a 500."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: server.api("DELETE", "/machines/trainer")[0], range(2)))
    assert sorted(answers) in ([200, 200], [200, 404]), answers
    assert "trainer" not in {m.name for m in roost.status()}


def _session_cookie(server: Server) -> str:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as redirected:
        urllib.request.build_opener(NoRedirect).open(server.login, timeout=30)
    assert redirected.value.code == 303 and redirected.value.headers["Location"] == "/"
    return redirected.value.headers["Set-Cookie"].split(";", 1)[0]


def _shot(page, name: str) -> None:
    path = ARTIFACTS / f"server-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def _browser_checks(server: Server, tmp_path: Path) -> None:
    job = json.loads((tmp_path / "job.json").read_text())
    with chromium() as browser:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.login)
        assert page.url == server.url + "/"  # the token is dropped from the address
        row = page.locator("#machines tr[data-name=nb]")
        try:
            row.locator(".health .pill.ok").wait_for(timeout=60_000)
        finally:
            _shot(page, "machines")
        assert row.locator(".health").inner_text() == "healthy"
        page.locator("#machines tr[data-name=trainer]").wait_for(timeout=30_000)
        _shot(page, "machines")

        jupyter = browser.new_page()
        jupyter.goto(row.locator("a.open").get_attribute("href"))
        jupyter.locator("input[type=password]").wait_for(timeout=30_000)  # Jupyter's login page
        jupyter.close()

        _job_page(page, server, job)
        _service_page(page, server)
        page.goto(server.url + "/costs")
        page.wait_for_function(
            "() => document.querySelector('#chart-spend canvas') && "
            "document.querySelector('#chart-spend').dataset.points >= 1",
            timeout=30_000,
        )
        assert "nb" in page.locator("#costs").inner_text()
        _shot(page, "costs")
        page.goto(server.url + "/offers")
        page.fill("input[name=gpu]", "T4")
        page.click("button[type=submit]")
        page.locator("#offers td", has_text="g4dn.xlarge").first.wait_for(timeout=30_000)
        _shot(page, "offers")

        page.goto(server.url + "/machines/nb")
        page.wait_for_function(
            "() => document.querySelector('#app-log').textContent.includes('Jupyter')", timeout=30_000
        )
        _shot(page, "machine")

        page.goto(server.url + "/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#machines tr[data-name=nb] button[data-act=stop]").click()
        page.locator("#machines tr[data-name=nb] .state", has_text="stopped").wait_for(timeout=120_000)
        assert errors == []  # no script failed on any page
    assert json.loads(roost_cli("status", "nb", "--json").stdout)[0]["state"] == "stopped"  # the CLI agrees


def _job_page(page, server: Server, job: dict) -> None:
    page.goto(f"{server.url}/machines/trainer/jobs/{job['job']}")
    page.wait_for_function("() => document.querySelector('#job-log').textContent.includes('line 3\\n')", timeout=60_000)
    page.goto(server.url + "/jobs")
    page.locator("#all-jobs td", has_text="trainer").first.wait_for(timeout=30_000)
    _shot(page, "jobs")
    page.goto(f"{server.url}/machines/trainer/jobs/{job['job']}")
    page.wait_for_function("() => document.querySelector('#job-log').textContent.includes('line 5\\n')", timeout=60_000)
    before = page.locator("#job-log").inner_text()
    page.wait_for_function(  # live: lines arrive while the page is open
        f"() => document.querySelector('#job-log').textContent.length > {len(before)}", timeout=30_000
    )
    page.click("#cancel")
    page.locator("#job-state", has_text="cancelled").wait_for(timeout=60_000)
    _shot(page, "job")
    assert [j.state for j in roost.jobs("trainer") if j.id == job["job"]] == ["cancelled"]


def _service_page(page, server: Server) -> None:
    url, stop = roost.status("svc")[0].url, threading.Event()

    def traffic() -> None:  # light steady load, so the charts have figures to draw
        while not stop.is_set():
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
            stop.wait(0.05)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        wait_for(
            lambda: any(
                (r["requests_per_second"] or 0) > 0 and r["mean_ms"] is not None
                for point in server.api("GET", "/services/svc/history")[1]
                for r in point["replicas"]
            ),
            60,
            "a probe that counted the traffic",
        )
        page.goto(server.url + "/services/svc")
        page.wait_for_function(
            "() => ['chart-rps', 'chart-errors', 'chart-latency'].every(id => "
            "document.querySelector('#' + id + ' canvas') && document.getElementById(id).dataset.points >= 2)",
            timeout=60_000,
        )
    finally:
        stop.set()
        sender.join(timeout=15)
    assert page.locator("#replicas tbody tr").count() == 2
    _shot(page, "service")


def test_dashboard_starts_a_server_once_and_prints_its_login(roost_home: Path) -> None:
    from roost.server.token import running

    port = str(free_port())
    first = roost_cli("dashboard", "--no-browser", "--port", port)
    assert first.returncode == 0, first.stderr
    info = running()
    assert info is not None and first.stdout.strip().startswith(f"{info.url}/?token=")
    try:
        with urllib.request.urlopen(info.url + "/healthz", timeout=10) as response:
            assert response.status == 200
        again = roost_cli("dashboard", "--no-browser", "--port", port)  # the same server, not a second one
        assert again.returncode == 0 and again.stdout == first.stdout and running() == info
    finally:
        os.kill(info.pid, signal.SIGTERM)
    wait_for(lambda: running() is None, 30, "the server to end")
    log = (roost_home / "server" / "server.log").read_text()
    assert "roost server: http://127.0.0.1:" in log and first.stdout.split("?token=")[1].strip() not in log
