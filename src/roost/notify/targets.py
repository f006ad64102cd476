"""A machine's notify targets: the spec's ``notify`` and roost's config (``$ROOST_HOME/config.yaml``),
``$NAME`` entries read from the environment, every URL checked by apprise before `roost up`
creates anything. The URLs themselves may hold tokens: they go to the machine in a 0600 file
and are never put in state, argv, a log or a message (messages show the scheme only)."""

from __future__ import annotations

import os
from pathlib import Path

from roost.errors import SpecError
from roost.machine.vault import Vault
from roost.paths import roost_home
from roost.spec.model import Spec
from roost.spec.watch import redact

NOTIFY_URLS = "notify-urls"
"""The vault key of a machine's resolved notify targets (0600 on this computer)."""


def remember(machine: str, urls: list[str]) -> None:
    """Keep the machine's resolved targets beside its other secrets (none: forget them)."""
    if urls:
        Vault(machine).put(NOTIFY_URLS, "\n".join(urls))
    else:
        Vault(machine).forget(NOTIFY_URLS)


def machine_targets(machine: str) -> list[str]:
    """Where the machine's events go, as `roost up` resolved them (config.yaml's included)."""
    kept = Vault(machine).get(NOTIFY_URLS) or ""
    return [line for line in kept.splitlines() if line.strip()]


def config_file() -> Path:
    """roost's own settings for this user: ``$ROOST_HOME/config.yaml``."""
    return roost_home() / "config.yaml"


def configured_targets() -> list[str]:
    """The ``notify`` list of roost's config (every machine's events go there too)."""
    path = config_file()
    if not path.exists():
        return []
    import yaml  # start-up time: only a config file needs it

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read roost's config: {exc}", file=str(path), hint="fix or remove the file") from None
    targets = data.get("notify", []) if isinstance(data, dict) else None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise SpecError(
            "'notify' must be a list of apprise URLs", file=str(path), field="notify", hint="notify: [json://host/path]"
        )
    return targets


def resolve(spec: Spec) -> list[str]:
    """Every target of the machine's events as URLs, each one apprise can use; SpecError
    naming the entry (never its token) otherwise."""
    targets = []
    for source, field, entries in (
        (spec.source, "notify", spec.notify),
        (str(config_file()), "notify", configured_targets()),
    ):
        for index, entry in enumerate(entries):
            url = _expand(entry, source, f"{field}[{index}]")
            _check(url, entry, source, f"{field}[{index}]")
            targets.append(url)
    return list(dict.fromkeys(targets))


def _expand(entry: str, source: str, field: str) -> str:
    if not entry.startswith("$"):
        return entry
    value = os.environ.get(entry[1:], "").strip()
    if not value:
        raise SpecError(
            f"notify target {entry} is not set in the environment",
            file=source,
            field=field,
            hint=f"export {entry[1:]}=<apprise URL> before `roost up`",
        )
    return value


def _check(url: str, entry: str, source: str, field: str) -> None:
    import apprise  # start-up time (~0.4 s): only specs that notify need it

    if not apprise.Apprise().add(url):
        raise SpecError(
            f"apprise cannot use the notify target {redact(entry) if entry == url else entry + ' (its URL)'}",
            file=source,
            field=field,
            hint="write it as apprise documents it: https://github.com/caronc/apprise/wiki (slack://, json://, ...)",
        )
