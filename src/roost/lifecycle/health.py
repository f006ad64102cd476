"""Whether a machine's app is healthy: one app, or every serving replica and the balancer."""

from __future__ import annotations

from roost.agent.client import AgentStatus
from roost.service.controller import serving
from roost.session import MachineSession


def healthy(session: MachineSession) -> bool:
    """True when the agent runs and reports the app (if there is one) healthy."""
    status = session.agent_status()
    return status is not None and healthy_in(session, status)


def healthy_in(session: MachineSession, status: AgentStatus) -> bool:
    """:func:`healthy` from an agent status already fetched."""
    spec = session.record.spec
    if session.driver is None:
        return status.running
    if spec.service and spec.service.worker_of:
        return status.running  # a worker's replicas are the gateway machine's to check
    if spec.service:  # every replica and the balancer
        names = [name for name, _ in serving(session, status.apps)]
        wanted = [status.apps.get(name) for name in [*names, "gateway"]]
        return bool(names) and all(app is not None and app.healthy for app in wanted)
    app = status.apps.get(session.driver.name)
    return bool(app and app.healthy)
