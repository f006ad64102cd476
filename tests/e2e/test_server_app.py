"""``app: roost-server`` on an SSH test host behind the gateway: TLS from roost's CA, the server's
token as its login, the CLI with ROOST_SERVER using that server's state and verbs, the state
database backed up on the spec's schedule."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import roost
from roost.gateway.site import https_status
from roost.server.auth import Keys
from tests.e2e.test_gateway import host_entry
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def test_roost_server_as_an_app_behind_the_gateway(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[1]
    spec = tmp_path / "hub.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "hub",
                "backend": "ssh",
                "app": "roost-server",
                "share": True,
                "hosts": [host_entry(host)],
                "backup": {"every": "10s", "keep": 3},
            }
        )
    )
    up = roost.up(spec)
    url, ca, token = up.url, roost.trust("hub"), roost.password("hub")
    assert url == f"https://{host.ip}/"
    assert https_status(url + "api/v1/machines", ca) == 401  # the server's own login, over roost's TLS
    assert https_status(url + "healthz", Path("/etc/ssl/certs/ca-certificates.crt")) is None

    env = {
        **os.environ,
        "ROOST_HOME": str(tmp_path / "laptop"),
        "ROOST_SERVER": url,
        "ROOST_SERVER_TOKEN": token,
        "ROOST_SERVER_CA": str(ca),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "roost", *args], capture_output=True, text=True, timeout=600, env=env
        )

    assert json.loads(cli("status", "--json").stdout) == []  # the server's state, not this computer's
    inner = tmp_path / "inner.yaml"
    inner.write_text(yaml.safe_dump({"name": "inner", "backend": "local"}))
    made = cli("up", str(inner))
    assert made.returncode == 0, made.stderr
    assert [m["name"] for m in json.loads(cli("status", "--json").stdout)] == ["inner"]
    assert "inner" not in {m.name for m in roost.status()}  # made by the server, with its credentials

    _dashboard_action_behind_tls(url, ca, token)

    # the server's state database is backed up on the spec's schedule, with the machine it made
    def scheduled_with_inner() -> bool:
        return any(b.kind == "scheduled" and b.annotations == 1 for b in roost.list_backups("hub"))

    wait_for(scheduled_with_inner, 120, "a scheduled backup of the server's state")
    assert cli("down", "inner").returncode == 0
    assert json.loads(cli("status", "--json").stdout) == []
    roost.down("hub")


def _dashboard_action_behind_tls(url: str, ca: Path, token: str) -> None:
    """A dashboard request (cookie + CSRF token, Origin https://HOST) passes the server's
    same-origin check behind the gateway: it sees the https address the browser used."""
    context = ssl.create_default_context(cafile=str(ca))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as login:
        opener.open(f"{url}?token={token}", timeout=30)
    assert login.value.code == 303
    cookie = login.value.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie  # over https, the cookie is https-only
    request = urllib.request.Request(
        url + "api/v1/machines/nope/stop",
        method="POST",
        headers={"Cookie": cookie.split(";", 1)[0], "Origin": url.rstrip("/"), "X-CSRF-Token": Keys(token).csrf},
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=30)
    assert answer.value.code == 404  # let through (403 would mean the origin check saw http)
