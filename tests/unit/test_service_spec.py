"""Service specs spread over machines or with routes: what is refused and what the balancer gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.errors import SpecError
from roost.gateway.caddyfile import caddyfile, users_snippet
from roost.service.placement import worker_names, worker_spec
from roost.spec.loader import load_spec
from roost.spec.service import Probe

BASE = "name: web\napp: {type: command, command: 'python3 -m http.server {port}'}\n"
SSH = "backend: ssh\nhosts: [alice@10.0.0.5, bob@10.0.0.6]\n"


def load(tmp_path: Path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_spec(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        (BASE + "service: {replicas: 2, machines: 2}\n", "service.machines is 2: it needs backend 'aws', or 'ssh'"),
        (BASE + SSH + "service: {replicas: 3, machines: 3}\n", "this spec has 2 on 'ssh'"),
        (BASE + "service: {routes: {'/a/b': {command: x}}}\n", "route '/a/b' must be one path segment"),
        (
            BASE + SSH + "service: {machines: 2, routes: {/api: {command: x}}}\n",
            "'routes' are built for a service on one",
        ),
        (BASE + "service: {routes: {/api: {replicas: 2}}}\n", "command"),
    ],
)
def test_service_spread_and_routes_are_checked(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value)


def test_workers_get_the_later_hosts_and_no_balancer(tmp_path: Path) -> None:
    spec = load(tmp_path, BASE + SSH + "share: true\nservice: {replicas: 4, machines: 2}\n")
    assert worker_names(spec) == ["web-w1"]
    worker = worker_spec(spec, 1)
    assert worker.name == "web-w1" and [h.address for h in worker.hosts] == ["10.0.0.6"]
    assert worker.share is False and worker.service.worker_of == "web" and worker_names(worker) == []


def test_a_spread_services_budget_is_shared_by_its_machines(tmp_path: Path) -> None:
    text = BASE + "backend: aws\nbudget: {max_usd: 30}\nservice: {replicas: 3, machines: 3}\n"
    spec = load(tmp_path, text)
    machines = [spec, *(worker_spec(spec, index) for index in (1, 2))]
    assert [m.machine_budget.max_usd for m in machines] == [10, 10, 10]  # the service stays within $30
    assert (
        load(tmp_path, BASE + SSH + "resources: {price_per_hour: 1}\nbudget: {max_usd: 30}\n").machine_budget.max_usd
        == 30
    )


def test_on_aws_the_gateway_and_its_workers_are_one_cluster(tmp_path: Path) -> None:
    spec = load(tmp_path, BASE + "backend: aws\nservice: {replicas: 4, machines: 3}\n")
    workers = [worker_spec(spec, index) for index in (1, 2)]
    assert [w.name for w in workers] == ["web-w1", "web-w2"] and all(w.hosts == [] for w in workers)
    assert {spec.aws_cluster, *(w.aws_cluster for w in workers)} == {"web"}  # the group that lets them in
    assert load(tmp_path, BASE + "backend: aws\nservice: {replicas: 2}\n").aws_cluster is None


def test_routes_sit_behind_the_same_login_and_on_their_own_loopback_listener() -> None:
    routes = [("/api", [7001, 7002], Probe(path="/health"), 7100)]
    text = caddyfile(
        address="10.0.0.5",
        tls_files=None,
        upstreams=[7000],
        health_port=7200,
        users_file="/g/users.caddy",
        admin="/run/a.sock",
        routes=routes,
    )
    site = text.split("https://10.0.0.5 {", 1)[1].split("\n}\n", 1)[0]
    assert site.index("import /g/users.caddy") < site.index("handle_path /api/*") < site.index("handle {")
    assert "reverse_proxy 127.0.0.1:7001 127.0.0.1:7002" in site and "health_uri /health" in site
    # behind the login, no proxy hands the user's password on to the app
    assert site.count("reverse_proxy") == site.count("header_up -Authorization") == 2
    inside = text.split("http://127.0.0.1:7100 {", 1)[1].split("\n}\n", 1)[0]
    assert "bind 127.0.0.1" in inside and "127.0.0.1:7001 127.0.0.1:7002" in inside
    # the users live in the imported file only: no user, no hash in the config itself
    assert "basicauth" not in text
    assert users_snippet({"bob": "$2a$b", "alice": "$2a$a"}, "unused") == "basicauth {\n\talice $2a$a\n\tbob $2a$b\n}\n"
    # no users yet: a locked account nobody has the password of keeps everything out, routes included
    assert users_snippet({}, "$2a$locked") == "basicauth {\n\troost-nobody-yet $2a$locked\n}\n"
    # an app with its own login: no import, and its Authorization header passes through
    own = caddyfile(
        address="10.0.0.5", tls_files=None, upstreams=[7000], health_port=7200, users_file=None, admin="/run/a.sock"
    )
    assert "import" not in own and "header_up" not in own


def test_a_service_given_as_setup_and_run_runs_its_command_as_replicas(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        "name: api\nsetup: pip install fastapi\nrun: uvicorn app:app --port {port}\n"
        "service: {replicas: 2, probe: {path: /health}}\n",
    )
    assert spec.app.type == "command" and spec.app.command == "uvicorn app:app --port {port}" and spec.run is None
