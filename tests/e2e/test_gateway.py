"""The gateway for real: Caddy on a test host, TLS with a pinned CA, logins, nothing else open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import roost
from roost.gateway.site import https_status
from tests.jupyter_client import JupyterSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]
APP = {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"}


def host_entry(host) -> dict:
    return {
        "address": host.ip,
        "user": host.user,
        "key": host.key,
        "host_key": host.host_key_fingerprint,
        "connect_timeout": 5,
    }


def listening(testhosts, host) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket on the host, from its own /proc."""
    table = testhosts.root(host.index, "cat /proc/net/tcp /proc/net/tcp6").stdout
    found = set()
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            address, port = fields[1].rsplit(":", 1)
            found.add((address, int(port, 16)))
    return found


def connects_from(testhosts, other, ip: str, port: int) -> bool:
    code = f"import socket; s=socket.socket(); s.settimeout(3); print(s.connect_ex(('{ip}', {port})))"
    return testhosts.root(other.index, f'python3 -c "{code}"').stdout.strip() == "0"


def test_shared_app_is_https_with_a_login_and_nothing_else_is_open(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host, other = testhosts.hosts[0], testhosts.hosts[2]
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("team dashboard")
    spec = tmp_path / "shared.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "shared",
                "backend": "ssh",
                "app": APP,
                "workdir": "site",
                "share": True,
                "hosts": [host_entry(host)],
            }
        )
    )
    result = roost.up(spec)
    assert result.url == f"https://{host.ip}/"
    ca = roost.trust("shared")
    # no user yet: nobody gets in; with a user: only with the right password
    assert https_status(result.url, ca) == 401
    password = roost.add_user("shared", "alice")
    assert https_status(result.url, ca) == 401
    assert https_status(result.url, ca, auth=("alice", "wrong")) == 401
    assert https_status(result.url, ca, auth=("alice", password)) == 200
    # the certificate verifies only against the pinned CA
    assert https_status(result.url, Path("/etc/ssl/certs/ca-certificates.crt")) is None
    # that CA is roost's own, constrained to this machine's address, and its key never left here:
    # the machine holds the leaf's key (0600) and no CA key at all
    from cryptography import x509

    authority = x509.load_pem_x509_certificate(ca.read_bytes())
    constraints = authority.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and [str(n.value) for n in constraints.value.permitted_subtrees] == [f"{host.ip}/32"]
    machine_home = testhosts.home_of(host) / ".roost" / "machines" / "shared"
    keys = [p for p in machine_home.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()[:200]]
    assert [(p.parent.name, p.stat().st_mode & 0o777) for p in keys] == [("tls", 0o600)], keys
    assert not (machine_home / "gateway" / "data" / "caddy" / "pki").exists()
    assert (roost_home / "ca" / "shared.key").stat().st_mode & 0o777 == 0o600
    # from another machine: 443 answers; plain HTTP and the app's own port do not
    app_status = roost.status("shared")[0]
    state_port = yaml.safe_load(
        (testhosts.home_of(host) / ".roost" / "machines" / "shared" / "agent" / "apps" / "command.json").read_text()
    )["port"]
    assert connects_from(testhosts, other, host.ip, 443)
    assert not connects_from(testhosts, other, host.ip, 80)
    assert not connects_from(testhosts, other, host.ip, state_port)
    # listening on the machine's network address (or all addresses): exactly 22 and 443
    public = {
        port
        for address, port in listening(testhosts, host)
        if address not in ("0100007F", "00000000000000000000000001000000")
    }
    assert public == {22, 443}, public
    roost.remove_user("shared", "alice")
    assert https_status(result.url, ca, auth=("alice", password)) == 401
    assert app_status.healthy
    roost.down("shared")
    assert not (roost_home / "ca" / "shared.crt").exists() and not (roost_home / "ca" / "shared.key").exists()


def test_jupyter_shared_keeps_its_own_login(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[1]
    spec = tmp_path / "nb.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "nbshared",
                "backend": "ssh",
                "app": "jupyter",
                "share": True,
                "installs": "wheelhouse",
                "hosts": [host_entry(host)],
            }
        )
    )
    result = subprocess.run(
        [*ROOST, "up", str(spec)], capture_output=True, text=True, env=dict(os.environ), timeout=600
    )
    assert result.returncode == 0, result.stderr
    url = f"https://{host.ip}"
    ca = roost.trust("nbshared")
    assert https_status(url + "/login", ca) == 200  # its own login page, over TLS
    assert https_status(url + "/api/status", ca) == 403
    session = JupyterSession(url)
    import ssl
    import urllib.request

    session.opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(session.jar),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca))),
    )
    assert session.login(roost.password("nbshared"))
    roost.down("nbshared")


def websocket_status(host: str, path: str, ca: Path, auth: tuple[str, str] | None, cookie: str = "") -> str:
    """The status line a websocket upgrade through the gateway gets (TLS verified with ``ca``)."""
    import base64
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    key = base64.b64encode(os.urandom(16)).decode()
    headers = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: https://{host}",
    ]
    if auth:
        headers.append("Authorization: Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    if cookie:
        headers.append(f"Cookie: {cookie}")
    with (
        socket.create_connection((host, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        return tls.recv(4096).split(b"\r\n", 1)[0].decode()


def test_streamlit_service_passes_its_websocket_through_the_balancer_with_sticky_sessions(
    testhosts, roost_home: Path, tmp_path: Path
) -> None:
    host = testhosts.hosts[2]
    (tmp_path / "dash").mkdir()
    (tmp_path / "dash" / "app.py").write_text('import streamlit as st\nst.title("model dashboard")\n')
    spec = tmp_path / "dash.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "dash",
                "backend": "ssh",
                "workdir": "dash",
                "share": True,
                "app": {"type": "streamlit", "script": "app.py"},
                "installs": "wheelhouse",
                "service": {"replicas": 2, "probe": {"path": "/_stcore/health"}},
                "hosts": [host_entry(host)],
            }
        )
    )
    result = subprocess.run(
        [*ROOST, "up", str(spec)], capture_output=True, text=True, env=dict(os.environ), timeout=600
    )
    assert result.returncode == 0, result.stderr
    ca = roost.trust("dash")
    password = roost.add_user("dash", "bob")
    url = f"https://{host.ip}/"
    assert https_status(url, ca) == 401
    assert https_status(url, ca, auth=("bob", password)) == 200
    assert https_status(url + "_stcore/health", ca, auth=("bob", password)) == 200
    assert websocket_status(host.ip, "/_stcore/stream", ca, None).startswith("HTTP/1.1 401")
    assert websocket_status(host.ip, "/_stcore/stream", ca, ("bob", password)) == "HTTP/1.1 101 Switching Protocols"
    # two replicas; a browser's session stays on one (Streamlit keeps it in that process's websocket)
    assert [r.healthy for r in roost.serve_status("dash").replicas] == [True, True]
    import ssl
    import urllib.request

    request = urllib.request.Request(
        url, headers={"Authorization": "Basic " + __import__("base64").b64encode(f"bob:{password}".encode()).decode()}
    )
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(ca)), timeout=10) as page:
        cookie = (page.headers.get("Set-Cookie") or "").split(";", 1)[0]
    assert cookie.startswith("roost_replica=")
    assert (
        websocket_status(host.ip, "/_stcore/stream", ca, ("bob", password), cookie)
        == "HTTP/1.1 101 Switching Protocols"
    )
    roost.down("dash")


def test_label_studio_shared_over_https_on_an_air_gapped_host(testhosts, roost_home: Path, tmp_path: Path) -> None:
    from roost.apps.label_studio import admin_email
    from tests.label_studio_client import LabelStudioSession

    host, other = testhosts.hosts[2], testhosts.hosts[0]
    spec = tmp_path / "team.yaml"
    spec.write_text(
        yaml.safe_dump(
            {"name": "lsteam", "backend": "ssh", "app": "label-studio", "share": True, "hosts": [host_entry(host)]}
        )
    )
    result = subprocess.run(
        [*ROOST, "up", str(spec)], capture_output=True, text=True, env=dict(os.environ), timeout=1200
    )
    assert result.returncode == 0, result.stderr
    assert "cannot reach a package index" in result.stderr  # came as a wheelhouse
    url = f"https://{host.ip}"
    ca = roost.trust("lsteam")
    assert https_status(f"{url}/user/login/", ca) == 200  # the login page, through TLS with the pinned CA
    assert https_status(f"{url}/api/projects", ca) == 401  # the API wants a login
    assert not connects_from(testhosts, other, host.ip, 80)
    public = {
        port
        for address, port in listening(testhosts, host)
        if address not in ("0100007F", "00000000000000000000000001000000")
    }
    assert public == {22, 443}, public
    # the admin logs in through the gateway (CSRF checks pass with the public origin)
    import ssl
    import urllib.request

    session = LabelStudioSession(url)
    context = ssl.create_default_context(cafile=str(ca))
    session.opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(session.jar), urllib.request.HTTPSHandler(context=context)
    )
    assert session.login(admin_email("lsteam"), roost.password("lsteam"))
    assert session.create_project("over https") > 0
    roost.down("lsteam", no_backup=True)
