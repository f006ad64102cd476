"""Autoscaling of a service: the controller under the agent, and who owns the replica set.

While a service with ``min`` < ``max`` runs, the controller on the machine (see
``roost_agent/controller.py``) owns its replica set; roost takes the set back (stopping the
controller) before it changes replicas itself, and hands it over again afterwards. This
module writes the controller's configuration (the replica definition and the Caddyfile as
templates) and reads its state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from roost.agent.client import AppDefinition
from roost.session import MachineSession
from roost.steps import fingerprint


CONTROLLER = "controller"
PORT_SENTINEL = 54321  # stands for a replica's port in the controller's definition template


def _controller_files(session: MachineSession) -> tuple[str, str]:
    home = session.record.facts.home
    return f"{home}/gateway/controller.json", f"{home}/gateway/controller-state.json"


def controller_state(session: MachineSession) -> dict | None:
    """What the controller last wrote (its replicas, rate, desired count), if it ever ran."""
    _, state = _controller_files(session)
    found = session.agent.runner.run(["cat", state], timeout=30, check=False)
    try:
        return json.loads(found.stdout) if found.ok else None
    except ValueError:
        return None


def serving(session: MachineSession, apps: Mapping[str, object] | None = None) -> list[tuple[str, int]]:
    """The replicas that serve now: the controller's while it runs, else the recorded ones.
    ``apps``: what the agent runs, when the caller asked it already."""
    facts = session.record.facts
    if session.record.spec.service and session.record.spec.service.autoscaled and facts.home:
        if CONTROLLER in (session.agent.status().apps if apps is None else apps):
            state = controller_state(session)
            if state:
                return [(r["name"], int(r["port"])) for r in state["replicas"]]
    return list(zip(facts.replica_names, facts.replica_ports))


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
        facts = session.record.facts
        facts.replica_names = [r["name"] for r in state["replicas"]]
        facts.replica_ports = [int(r["port"]) for r in state["replicas"]]
        facts.replica_serial = max([facts.replica_serial] + [int(n.rsplit("-", 1)[1]) for n in facts.replica_names])
        session.save()


def start_controller(session: MachineSession) -> None:
    """Hand the replica set to the controller, with everything it needs to change it."""
    from roost import gateway
    from roost.serve import Replicas

    spec, facts = session.record.spec, session.record.facts
    assert spec.service and session.driver and facts.home
    config_path, state_path = _controller_files(session)
    template = Replicas(session).definition("replica", PORT_SENTINEL).model_dump_json()
    caddy_template = gateway.render(session, [PORT_SENTINEL]).replace(f"127.0.0.1:{PORT_SENTINEL}", "__UPSTREAMS__")
    config = {
        "service": spec.name, "prefix": f"{session.driver.name}-", "serial": facts.replica_serial,
        "definition": template.replace(str(PORT_SENTINEL), "__PORT__"),
        "replicas": [{"name": n, "port": p} for n, p in zip(facts.replica_names, facts.replica_ports)],
        "min": spec.service.min, "max": spec.service.max, "target_rps": spec.service.target_rps,
        "window_seconds": spec.service.window_seconds, "cooldown_seconds": spec.service.cooldown_seconds,
        "probe_interval": spec.service.probe.interval_seconds,
        "ready_within": spec.service.probe.ready_within_seconds,
        "caddyfile": gateway.caddyfile_path(session), "caddyfile_template": caddy_template,
        "admin": gateway.admin_socket(session), "state": state_path,
    }
    runner = session.agent.runner
    runner.run(["rm", "-f", state_path], timeout=30)
    runner.write_file(config_path, json.dumps(config).encode(), mode=0o600)
    agent = session.agent
    digest = agent.put_app(AppDefinition(name=CONTROLLER, argv=agent.command("controller", "--config", config_path),
                                         env={"ROOST_CONTROLLER_CONFIG": fingerprint(config)}))
    agent.wait_healthy(CONTROLLER, 30, digest=digest)
