"""A service's controller under the agent (health keeping, autoscaling), and who owns the replica set.

While a service runs, the controller on the machine (see
``roost_agent/controller.py``) owns its replica set; roost takes the set back (stopping the
controller) before it changes replicas itself, and hands it over again afterwards. This
module writes the controller's configuration (the replica definition and the Caddyfile as
templates) and reads its state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from roost.agent.client import AppDefinition
from roost.gateway import site as gateway
from roost.machine.steps import fingerprint
from roost.service import routes
from roost.service.base import DRAIN_SECONDS
from roost.service.capacity import room
from roost.service.replicas import Replicas
from roost.session import MachineSession

CONTROLLER = "controller"
PORT_SENTINEL = 54321  # stands for a replica's port in the controller's definition template


def _controller_files(session: MachineSession) -> tuple[str, str]:
    home = session.record.facts.home
    return f"{home}/gateway/controller.json", f"{home}/gateway/controller-state.json"


def controller_state(session: MachineSession) -> dict | None:
    """What the controller last wrote (its replicas, rate, desired count), if it ever ran."""
    _, state = _controller_files(session)
    found = session.runner.run(["cat", state], timeout=30, check=False)
    try:
        return json.loads(found.stdout) if found.ok else None
    except ValueError:
        return None


def _controller_replicas(
    session: MachineSession, apps: Mapping[str, object] | None, state: dict | None = None
) -> list[dict] | None:
    """The controller's replica set while it runs (None when it does not); ``state``: its state,
    when the caller read it already."""
    if not (session.record.spec.service and session.record.facts.home):
        return None
    if CONTROLLER in (session.agent.status().apps if apps is None else apps):
        state = state or controller_state(session)
        if state:
            return state["replicas"]
    return None


def serving(
    session: MachineSession, apps: Mapping[str, object] | None = None, state: dict | None = None
) -> list[tuple[str, int]]:
    """The replicas that serve now: the controller's while it runs, else the recorded ones.
    ``apps``: what the agent runs, ``state``: the controller's, when the caller read them already."""
    replicas = _controller_replicas(session, apps, state)
    if replicas is not None:
        return [(r["name"], int(r["port"])) for r in replicas]
    facts = session.record.facts.service
    return list(zip(facts.replica_names, facts.replica_ports))


def serving_remote(
    session: MachineSession, apps: Mapping[str, object] | None = None, state: dict | None = None
) -> dict[str, tuple[str, int]]:
    """Of :func:`serving`, those on worker machines: name -> (machine, port there)."""
    replicas = _controller_replicas(session, apps, state)
    if replicas is None:
        return dict(session.record.facts.service.replica_remote)
    return {r["name"]: (r["machine"], int(r["remote_port"])) for r in replicas if r.get("machine")}


def serving_ports(session: MachineSession) -> list[int]:
    """The ports of :func:`serving`."""
    return [port for _, port in serving(session)]


def pause_controller(session: MachineSession) -> None:
    """Stop the controller, taking its replica set into the record (roost owns it until restarted)."""
    if CONTROLLER not in session.agent.status().apps:
        return
    state = controller_state(session)
    session.agent.remove_app(CONTROLLER)
    if state and state.get("replicas"):
        facts = session.record.facts.service
        facts.replica_names = [r["name"] for r in state["replicas"]]
        facts.replica_ports = [int(r["port"]) for r in state["replicas"]]
        facts.replica_remote = {
            r["name"]: (r["machine"], int(r["remote_port"])) for r in state["replicas"] if r.get("machine")
        }
        facts.replica_serial = max([facts.replica_serial] + [int(n.rsplit("-", 1)[1]) for n in facts.replica_names])
        session.save()


def _replica_entries(session: MachineSession, replicas: Replicas) -> list[dict[str, object]]:
    """The serving replicas as the controller takes them over; one on a worker machine comes
    with its tunnel, which the controller restarts (or replaces with a replica here)."""
    facts, entries = session.record.facts.service, []
    for name, port in zip(facts.replica_names, facts.replica_ports):
        entry: dict[str, object] = {"name": name, "port": port}
        if name in facts.replica_remote:
            machine, remote_port = facts.replica_remote[name]
            entry.update(machine=machine, remote_port=remote_port, definition=replicas.tunnel(name, port).model_dump())
        entries.append(entry)
    return entries


def controller_config(session: MachineSession) -> dict[str, object]:
    """Everything the controller needs to keep, replace and scale the replicas by itself: their
    definition and the Caddyfile as templates, the limits, and where its state goes."""
    spec, facts = session.record.spec, session.record.facts.service
    assert spec.service and session.driver and session.record.facts.home
    replicas = Replicas(session)
    template = replicas.definition("replica", PORT_SENTINEL).model_dump_json()
    caddy_template = gateway.render(session, [PORT_SENTINEL], routes.upstreams(session))
    service, fixed = spec.service, spec.service.initial
    return {
        "service": spec.name, "prefix": f"{session.driver.name}-", "serial": facts.replica_serial,
        "definition": template.replace(str(PORT_SENTINEL), "__PORT__"),
        "replicas": _replica_entries(session, replicas),
        "min": service.min or fixed, "max": service.max or fixed, "target_rps": service.target_rps,
        "window_seconds": service.window_seconds, "cooldown_seconds": service.cooldown_seconds,
        "probe_interval": service.probe.interval_seconds, "ready_within": service.probe.ready_within_seconds,
        "caddyfile": gateway.caddyfile_path(session),
        "caddyfile_template": caddy_template.replace(f"127.0.0.1:{PORT_SENTINEL}", "__UPSTREAMS__"),
        "admin": gateway.admin_socket(session), "state": _controller_files(session)[1],
        "upstream_log": gateway.upstream_log_path(session),
        "room": room(session),  # replicas this machine holds: no replacement or autoscaling beyond it
        "drain_seconds": DRAIN_SECONDS,
    }  # fmt: skip


def start_controller(session: MachineSession) -> None:
    """Hand the replica set to the controller, with everything it needs to change it."""
    config_path, state_path = _controller_files(session)
    config = controller_config(session)
    agent = session.agent
    agent.runner.run(["rm", "-f", state_path], timeout=30)
    agent.runner.write_file(config_path, json.dumps(config).encode(), mode=0o600)
    definition = AppDefinition(name=CONTROLLER, argv=agent.command("controller", "--config", config_path),
                               env={"ROOST_CONTROLLER_CONFIG": fingerprint(config)})  # fmt: skip
    agent.start_app(definition, 30)
