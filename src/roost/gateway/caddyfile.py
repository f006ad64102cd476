"""The gateway's whole Caddy config as text: the site with TLS and a login, the balancer over
replicas (probes, passive failure detection, retries), route listeners, the health endpoint,
and the log of the balancer's round trips."""

from __future__ import annotations

from roost.spec.model import ServiceOptions
from roost.spec.service import Probe

RouteUpstreams = list[tuple[str, list[int], Probe, int]]
"""A service's routes for the balancer: (path, replica ports, probe, 127.0.0.1 listener port)."""


def users_snippet(users: dict[str, str], locked_hash: str) -> str:
    """The gateway's login, imported by the site from its own file (the one place users are
    written, so every render of the Caddyfile, roost's or the service controller's, sees the
    same users). With no user yet a locked account nobody has the password of keeps every
    request out, routes included (``locked_hash`` is a bcrypt hash of a random secret)."""
    accounts = sorted(users.items()) or [("roost-nobody-yet", locked_hash)]
    return "basicauth {\n" + "".join(f"\t{user} {hashed}\n" for user, hashed in accounts) + "}\n"


def _site_proxy(upstreams: list[int], balance: ServiceOptions | None, routes: RouteUpstreams, strip_login: bool) -> str:
    """The site's proxying: to the app's (or replicas') ports, and each route under its path."""
    policy = "cookie roost_replica" if balance is not None and balance.sticky else "round_robin"
    probe = balance.probe if balance else None
    if not routes:
        return _proxy(upstreams, probe, policy, strip_login=strip_login)
    handles = "".join(
        f"\thandle_path {path}/* {{\n{_proxy(ports, route_probe, indent=chr(9) * 2, strip_login=strip_login)}\t}}\n"
        for path, ports, route_probe, _ in routes
    )
    main = _proxy(upstreams, probe, policy, indent=chr(9) * 2, strip_login=strip_login)
    return handles + f"\thandle {{\n{main}\t}}\n"


def _proxy(
    targets: list[int],
    probe: Probe | None,
    policy: str = "round_robin",
    indent: str = "\t",
    *,
    strip_login: bool = False,
) -> str:
    """A reverse_proxy block; with a probe, the load balancer's health checks, passive failure
    detection and retries (10 s) too. Behind the gateway's login (``strip_login``) the user's
    Basic-auth password never reaches the app: its Authorization header is removed."""
    upstreams = " ".join(f"127.0.0.1:{port}" for port in targets)
    inner = indent + "\t"
    strip = f"{inner}header_up -Authorization\n" if strip_login else ""
    if probe is None:
        return (
            f"{indent}reverse_proxy {upstreams} {{\n{strip}{indent}}}\n"
            if strip
            else f"{indent}reverse_proxy {upstreams}\n"
        )
    return (
        f"{indent}reverse_proxy {upstreams} {{\n{strip}{inner}lb_policy {policy}\n{inner}lb_try_duration 10s\n"
        f"{inner}lb_try_interval 50ms\n{inner}health_uri {probe.path}\n"
        f"{inner}health_interval {probe.interval_seconds:g}s\n{inner}health_timeout {probe.timeout_seconds:g}s\n"
        f"{inner}fail_duration 10s\n{inner}max_fails 1\n{indent}}}\n"
    )


def _upstream_log(path: str) -> str:
    """Global options that write the proxy's round trips (address, duration, status or error;
    no request, no headers) to ``path``, rolled at 5 MiB with one old file kept, for the
    controller's per-replica counts; the proxy's own messages still go to Caddy's log."""
    return (
        f"\tlog roost_proxy {{\n\t\toutput stderr\n\t\tlevel INFO\n\t\tinclude http.handlers.reverse_proxy\n\t}}\n"
        f"\tlog roost_upstreams {{\n\t\toutput file {path} {{\n\t\t\troll_size 5MiB\n\t\t\troll_keep 1\n"
        f"\t\t\troll_uncompressed\n\t\t}}\n\t\tformat filter {{\n\t\t\twrap json\n\t\t\tfields {{\n"
        + "".join(f"\t\t\t\t{field} delete\n" for field in ("request", "headers", "dial", "total_upstreams"))
        + "\t\t\t}\n\t\t}\n\t\tlevel DEBUG\n\t\tinclude http.handlers.reverse_proxy\n\t}\n"
    )


def caddyfile(
    *,
    address: str | None,
    tls_files: tuple[str, str] | None,
    upstreams: list[int],
    health_port: int,
    users_file: str | None,
    admin: str,
    balance: ServiceOptions | None = None,
    plain_port: int | None = None,
    routes: RouteUpstreams | None = None,
    upstream_log: str | None = None,
) -> str:
    """The whole Caddy config. ``users_file`` None: the app has its own login; otherwise the
    file of :func:`users_snippet` that the site imports.

    ``address`` is the shared HTTPS site, with ``tls_files`` (certificate, key) from roost's CA
    or, without them, an ACME certificate for its domain; without one (a service that is not shared) the
    balancer listens on ``plain_port`` of 127.0.0.1, reached through roost's SSH tunnel.
    ``balance`` adds the load balancer's probe, passive failure detection and retries.
    ``routes`` (path, ports, probe, 127.0.0.1 port): replica groups under path prefixes, each
    also on a 127.0.0.1 listener of its own for the app's replicas. ``upstream_log``: the file
    of the proxy's round trips (services: requests per replica).
    """
    routes = routes or []
    guard = f"\timport {users_file}\n" if users_file else ""
    tls = f"\ttls {tls_files[0]} {tls_files[1]}\n" if tls_files and address else ""
    site = f"https://{address}" if address else f"http://127.0.0.1:{plain_port}"
    bind = "" if address else "\tbind 127.0.0.1\n"
    listener = ":443" if address else f"127.0.0.1:{plain_port}"
    proxy = _site_proxy(upstreams, balance, routes, strip_login=users_file is not None)
    inside = "".join(
        f"http://127.0.0.1:{port} {{\n\tbind 127.0.0.1\n{_proxy(ports, probe)}}}\n\n"
        for _, ports, probe, port in routes
    )
    return (
        f"{{\n\tadmin unix/{admin}\n\tauto_https disable_redirects\n"
        f"\tservers {listener} {{\n\t\tmetrics\n\t}}\n"  # request counts of the app's site only
        f"{_upstream_log(upstream_log) if upstream_log else ''}}}\n\n"
        f"{site} {{\n{bind}{tls}{guard}{proxy}}}\n\n{inside}"
        f"http://127.0.0.1:{health_port} {{\n\tbind 127.0.0.1\n\trespond /health 200\n}}\n"
    )
