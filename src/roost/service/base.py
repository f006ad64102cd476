"""What every part of a service shares: the drain time, free ports, the routes' variables."""

from __future__ import annotations

from roost.session import MachineSession

DRAIN_SECONDS = 2.0
"""How long a replica taken out of the balancer keeps running, so requests it holds finish
(the controller on the machine is given the same figure in its configuration)."""


def free_ports(session: MachineSession, count: int, taken: set[int]) -> list[int]:
    """``count`` ports free on the machine's 127.0.0.1, none in ``taken`` nor the app's or the
    gateway's own."""
    facts, ports = session.record.facts, list[int]()
    while len(ports) < count:
        port = session.agent.free_port()
        if port not in taken and port not in ports and port not in (facts.app.port, facts.gateway.health_port):
            ports.append(port)
    return ports


def slug(path: str) -> str:
    """The route's name in app and variable names: ``/api`` -> ``api``."""
    return path.strip("/").lower().replace("_", "-")


def variables(session: MachineSession) -> dict[str, str]:
    """``ROOST_ROUTE_<NAME>`` -> the route's 127.0.0.1 address, for the app's replicas."""
    ports = session.record.facts.service.route_ports
    return {
        f"ROOST_ROUTE_{slug(path).upper().replace('-', '_')}": f"http://127.0.0.1:{ports[path]}"
        for path in sorted(ports)
    }
