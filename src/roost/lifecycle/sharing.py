"""Library verbs for shared machines: share an app, manage its gateway users, its CA."""

from __future__ import annotations

import secrets
from pathlib import Path

from roost.errors import AppError
from roost.gateway import site as gateway
from roost.lifecycle import machines as lifecycle
from roost.machine.state import machine_lock
from roost.progress import Progress
from roost.service.steps import configure_balancer
from roost.session import MachineSession, load_session


def _session(name: str) -> MachineSession:
    session = load_session(name)
    if not session.record.spec.share:
        raise AppError(f"machine '{name}' is not shared", hint=f"`roost share {name}` puts it behind the gateway")
    return session


def share(name: str, *, progress: Progress | None = None) -> lifecycle.UpResult:
    """Put the machine's app behind the gateway (TLS on 443, a login), as ``share: true`` would."""
    spec = load_session(name).record.spec
    shared = spec.model_validate({**spec.model_dump(by_alias=True), "share": True})
    shared._source = spec.source
    return lifecycle.up(shared, progress=progress)


def add_user(name: str, user: str) -> str:
    """Add a gateway user with a generated password; returns the password (shown once)."""
    gateway.check_user_name(user)
    password = secrets.token_urlsafe(15)
    with machine_lock(name):
        _set_user(_session(name), user, password)
    return password


def users(name: str) -> list[str]:
    """The names of the machine's gateway users."""
    return gateway.user_names(_session(name))


def remove_user(name: str, user: str) -> None:
    """Remove a gateway user; their password stops working at once."""
    with machine_lock(name):
        _set_user(_session(name), user, None)


def trust(name: str) -> Path:
    """The pinned CA root of the machine's gateway (to import into a browser)."""
    _session(name)
    path = gateway.ca_path(name)
    if not path.exists():
        raise AppError(f"no CA pinned for '{name}' yet", hint=f"run `roost up` for '{name}'")
    return path


def _set_user(session: MachineSession, user: str, password: str | None) -> None:
    """Add or remove the user, then apply the gateway's config (over a service's replicas)."""
    gateway.set_user(session, user, password)
    if session.record.spec.service:
        configure_balancer(session)
    else:
        gateway.configure(session)
