"""The gateway: Caddy on the machine, TLS on 443 and a login in front of a shared app.

Caddy (the machine's Debian package) runs under roost's agent like any app. Without a
``domain`` it serves a leaf certificate from roost's own CA, which stays on this computer
and is constrained to the machine's address (see certs.py), so ``roost open`` and checks
verify the certificate; with a domain Caddy gets an ACME certificate.
Apps without accounts of their own get bcrypt basic auth (``roost users add``); with no
user yet, every request is refused. The app itself stays on 127.0.0.1; Caddy's health
endpoint listens on 127.0.0.1 only; nothing listens on port 80.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import re
import secrets
import shlex
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from roost.agent.client import AppDefinition
from roost.errors import AppError, HostError, SpecError
from roost.gateway import certs
from roost.gateway.caddyfile import RouteUpstreams, caddyfile, users_snippet
from roost.machine.steps import Step
from roost.paths import short_socket_dir
from roost.session import MachineSession
from roost.spec.model import ServiceOptions, Spec
from roost.transport.private import ensure_private_dir

NAME = "gateway"
USER_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
"""A gateway user's name, matched whole (``fullmatch``: no trailing newline slips through)."""


def ca_path(machine: str) -> Path:
    """Where roost keeps the machine's gateway CA certificate on this computer (``roost trust``)."""
    return certs.ca_files(machine)[0]


def _dirs(session: MachineSession) -> dict[str, str]:
    base = f"{session.record.facts.home}/gateway"
    return {
        "base": base,
        "caddyfile": f"{base}/Caddyfile",
        "users": f"{base}/users.json",
        "users_caddy": f"{base}/users.caddy",
        "data": f"{base}/data",
        "upstream_log": f"{base}/upstreams.log",
        "tls": f"{base}/tls",
    }


def admin_socket(session: MachineSession) -> str:
    """Caddy's admin API: a unix socket in a 0700 directory (reloads go through it)."""
    assert session.record.facts.home
    return f"{short_socket_dir(session.record.facts.home, 'gateway')}/admin.sock"


def _users(session: MachineSession) -> dict[str, str]:
    result = session.runner.run(f"cat {shlex.quote(_dirs(session)['users'])} 2>/dev/null || echo '{{}}'")
    return json.loads(result.stdout or "{}")


def user_names(session: MachineSession) -> list[str]:
    """The gateway's users, by name (never their password hashes)."""
    return sorted(_users(session))


def _has_login(session: MachineSession) -> bool:
    """The gateway asks for a login: a shared app without accounts of its own."""
    return bool(session.record.spec.share) and session.driver is not None and not session.driver.has_own_login


def _hash(session: MachineSession, password: str) -> str:
    """bcrypt of ``password`` by the machine's Caddy (the password goes on stdin)."""
    hashed = session.runner.run(["caddy", "hash-password"], stdin=f"{password}\n{password}\n".encode(), timeout=60)
    return hashed.stdout.strip().splitlines()[-1]


def _write_users(session: MachineSession, users: dict[str, str]) -> None:
    """Write the users (users.json) and the login the site imports (users.caddy), both 0600."""
    locked = "" if users else _hash(session, secrets.token_urlsafe(32))
    session.runner.write_file(_dirs(session)["users"], json.dumps(users).encode(), mode=0o600)
    session.runner.write_file(_dirs(session)["users_caddy"], users_snippet(users, locked).encode(), mode=0o600)


def render(session: MachineSession, upstreams: list[int], routes: RouteUpstreams | None = None) -> str:
    """The machine's Caddyfile for these replica (or app) ports (and the service's routes)."""
    record = session.record
    if not record.facts.gateway.health_port:
        record.facts.gateway.health_port = session.agent.free_port()
        session.save()
    assert record.facts.app.port and session.driver is not None
    spec = record.spec
    return caddyfile(
        address=session.public_host() if spec.share else None,
        tls_files=_leaf_files(session),
        upstreams=upstreams,
        health_port=record.facts.gateway.health_port,
        users_file=None if not _has_login(session) else _dirs(session)["users_caddy"],
        admin=admin_socket(session),
        balance=_balance(spec),
        plain_port=record.facts.app.port,
        routes=routes or [],
        upstream_log=upstream_log_path(session) if spec.service else None,
    )


def upstream_log_path(session: MachineSession) -> str:
    """The file of the balancer's round trips to its replicas (see :func:`caddyfile`)."""
    return _dirs(session)["upstream_log"]


def configure(
    session: MachineSession, upstreams: list[int] | None = None, routes: RouteUpstreams | None = None
) -> None:
    """Write the Caddyfile and run Caddy under the agent; a running Caddy reloads the new config
    through its admin API (open connections are kept), a new one starts with it. Without
    ``upstreams`` the balancer sends everything to the app's own port."""
    record, runner, dirs = session.record, session.runner, _dirs(session)
    if not runner.run("command -v caddy", check=False).ok:
        raise HostError(
            record.facts.host or record.name,
            "has no caddy, which sharing needs",
            hint="install it there (Debian/Ubuntu: sudo apt-get install -y caddy)",
        )
    assert record.facts.app.port
    install_leaf(session)  # before the config, which names the leaf's files
    config = render(session, upstreams or [record.facts.app.port], routes)
    admin = admin_socket(session)
    ensure_private_dir(runner, admin.rsplit("/", 1)[0])
    if _has_login(session):
        _write_users(session, _users(session))
    runner.write_file(dirs["caddyfile"], config.encode(), mode=0o600)
    definition = AppDefinition(
        name=NAME,
        argv=["caddy", "run", "--config", dirs["caddyfile"], "--adapter", "caddyfile"],
        cwd=dirs["base"],
        port=record.facts.gateway.health_port,
        health_path="/health",
        env={"XDG_DATA_HOME": dirs["data"], "XDG_CONFIG_HOME": f"{dirs['base']}/config", "HOME": dirs["base"]},
    )
    before = session.agent.status().apps.get(NAME)
    running = session.agent.put_app(definition)
    if before is not None and before.healthy and before.digest == running:
        runner.run(
            ["caddy", "reload", "--config", dirs["caddyfile"], "--adapter", "caddyfile", "--address", f"unix/{admin}"],
            cwd=dirs["base"],
            timeout=60,
        ).check("reload the gateway's config")
    session.agent.wait_healthy(NAME, 60, log_hint=f"see the agent's log of '{NAME}' on the machine", digest=running)


def caddyfile_path(session: MachineSession) -> str:
    """Where the machine's Caddyfile is."""
    return _dirs(session)["caddyfile"]


def _balance(spec: Spec) -> ServiceOptions | None:
    """The service's balancing options, with sticky sessions on by default for Streamlit."""
    if spec.service is None:
        return None
    sticky = spec.service.sticky if spec.service.sticky is not None else bool(spec.app and spec.app.type == "streamlit")
    return spec.service.model_copy(update={"sticky": sticky})


def _leaf_files(session: MachineSession) -> tuple[str, str] | None:
    """The leaf certificate and key on the machine (None: ACME for a domain, or not shared)."""
    leaf = session.record.facts.gateway.tls_leaf
    if not leaf or session.record.spec.domain or not session.record.spec.share:
        return None
    return f"{_dirs(session)['tls']}/{leaf}.crt", f"{_dirs(session)['tls']}/{leaf}.key"


def install_leaf(session: MachineSession) -> None:
    """Without a domain: make (or keep) the machine's CA here, constrained to its address, and
    put a leaf certificate and its key on the machine when it has no current one. The files
    are named by the leaf's fingerprint, so a new leaf changes the config and Caddy loads it.
    Caddy's own internal CA, which an older roost used, is removed from the machine."""
    record = session.record
    if record.spec.domain or not record.spec.share:
        return
    names = [session.public_host()]
    ca = certs.ensure_ca(record.name, names)
    current = _leaf_files(session)
    found = session.runner.run(["cat", current[0]], check=False) if current else None
    if found is not None and found.ok and certs.leaf_is_current(found.stdout, ca, names):
        return
    cert, key = certs.issue_leaf(record.name, names)
    leaf = hashlib.sha256(cert).hexdigest()[:16]
    tls = _dirs(session)["tls"]
    session.runner.run(["rm", "-rf", "--", tls, f"{_dirs(session)['data']}/caddy/pki"], timeout=30)
    session.runner.write_file(f"{tls}/{leaf}.key", key, mode=0o600)
    session.runner.write_file(f"{tls}/{leaf}.crt", cert, mode=0o644)
    record.facts.gateway.tls_leaf = leaf
    session.save()


def pin_ca(session: MachineSession) -> None:
    """Check the gateway's certificate against the CA pinned here (roost's own, see certs.py)."""
    if session.record.spec.domain or not session.record.spec.share:
        return  # a public CA signs it, or there is no TLS (a service reached through the tunnel)
    deadline = time.monotonic() + 30
    path = ca_path(session.record.name)
    address = f"https://{session.public_host()}/"
    while https_status(address, path) is None:  # Caddy may still be loading the new config
        if time.monotonic() > deadline:
            raise AppError(
                f"the gateway at {address} did not answer with a certificate signed by its CA within 30 s",
                hint="see the gateway's log on the machine",
            )
        time.sleep(0.2)


def https_status(address: str, ca: Path, *, auth: tuple[str, str] | None = None) -> int | None:
    """The HTTP status of a GET verified against ``ca``; None when TLS or the connection fails."""
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(address)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


def _addresses(name: str, timeout: float = 15.0) -> set[str] | None:
    """The addresses ``name`` resolves to here, or None when it does not resolve in time."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(socket.getaddrinfo, name, 443, proto=socket.IPPROTO_TCP).result(timeout=timeout)
        return {str(entry[4][0]) for entry in found}
    except (OSError, concurrent.futures.TimeoutError):
        return None
    finally:
        pool.shutdown(wait=False)


def check_domain(session: MachineSession) -> None:
    """A ``domain`` must resolve, and to this machine, or ACME cannot issue its certificate."""
    domain, record = session.record.spec.domain, session.record
    if not domain:
        return
    machine = session.backend.address(record)
    found = _addresses(domain)
    if not found:
        raise SpecError(
            f"domain '{domain}' does not resolve; the gateway was not started and nothing was changed",
            file=record.spec.source,
            field="domain",
            hint=f"add a DNS A record for {domain} pointing at {machine}, wait for it to resolve, "
            "then run `roost up` again (or remove 'domain:' to use roost's own CA)",
        )
    expected = _addresses(machine) or {machine}
    if not found & expected:
        raise SpecError(
            f"domain '{domain}' resolves to {', '.join(sorted(found))}, not to this machine "
            f"({machine}); the gateway was not started",
            file=record.spec.source,
            field="domain",
            hint=f"point the DNS record of {domain} at {machine}, then run `roost up` again",
        )


def domain_step(session: MachineSession) -> Step:
    """The DNS check of a shared machine's ``domain``, run before anything is installed."""
    return Step(
        "gateway-domain",
        f"check that {session.record.spec.domain} resolves to the machine",
        lambda: check_domain(session),
        always=True,
    )


def steps(session: MachineSession) -> list[Step]:
    """Gateway steps for a shared machine: configure and start Caddy, then pin its CA."""
    return [
        Step("gateway", "start the gateway (TLS, login)", lambda: configure(session), always=True),
        Step("gateway-ca", "pin the gateway's CA", lambda: pin_ca(session), always=True),
    ]


def set_user(session: MachineSession, user: str, password: str | None) -> None:
    """Add (with a password) or remove (``None``) a gateway user; the caller applies the config
    (:func:`configure`, with a service's upstreams)."""
    check_user_name(user)
    users = _users(session)
    if password is None:
        users.pop(user, None)
    else:
        users[user] = _hash(session, password)
    _write_users(session, users)


def check_user_name(user: str) -> str:
    """``user`` when it is a gateway user name; SpecError naming it otherwise."""
    if not USER_NAME.fullmatch(user):
        raise SpecError(
            f"{user!r} is not a gateway user name",
            field="user",
            hint="start with a lowercase letter or _, then lowercase letters, digits, . _ - (32 at most)",
        )
    return user
