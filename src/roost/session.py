"""A machine's record together with its backend, runner, agent and app driver."""

from __future__ import annotations

from roost.agent.client import AgentClient, AgentStatus
from roost.apps import AppContext, AppDriver, app_driver
from roost.backends import Backend, get_backend
from roost.errors import AgentError, MachineNotFound
from roost.machine.record import MachineRecord
from roost.spec.model import Spec
from roost.machine.state import State
from roost.machine.vault import Vault


class MachineSession:
    """One machine's record with its backend, runner, agent and app driver, ready to use."""

    def __init__(self, state: State, record: MachineRecord, *, accept_new_host_key: bool = False) -> None:
        self.state = state
        self.record = record
        self.backend: Backend = get_backend(record.backend, accept_new_host_key=accept_new_host_key)
        self.driver: AppDriver | None = app_driver(record.spec)
        self.previous_spec: Spec | None = None
        """The spec the machine ran before this ``up`` changed it (a failed rollout goes back to it)."""

    @property
    def agent(self) -> AgentClient:
        """The agent on this machine (requires a provisioned machine)."""
        assert self.record.facts.home
        return AgentClient(self.backend.runner(self.record), self.record.facts.home)

    def context(self) -> AppContext:
        """What the app driver works with."""
        public_host = None
        if self.record.spec.share:
            from roost.gateway.site import site

            public_host = site(self)
        return AppContext(record=self.record, runner=self.backend.runner(self.record), agent=self.agent,
                          make_tools=lambda: self.backend.tools(self.record), vault=Vault(self.record.name),
                          public_host=public_host)

    def url(self) -> str | None:
        """The app's URL as seen from this computer (None for a machine without an app)."""
        if self.driver is None or not self.record.facts.app_port:
            return None
        if self.record.spec.share:
            from roost.gateway import site as gateway

            return gateway.url(self, self.driver.url_path)
        return self.backend.app_url(self.record, self.record.facts.app_port, self.driver.url_path)

    def save(self) -> None:
        """Persist the record (facts and state)."""
        self.state.save(self.record)

    def healthy(self) -> bool:
        """True when the agent runs and reports the app (if there is one) healthy."""
        if self.record.facts.home is None:
            return False
        try:
            status = self.agent.status()
        except AgentError:
            return False
        return self.healthy_in(status)

    def healthy_in(self, status: AgentStatus) -> bool:
        """:meth:`healthy` from an agent status already fetched."""
        if self.driver is None:
            return status.running
        if self.record.spec.service and self.record.spec.service.worker_of:
            return status.running  # a worker's replicas are the gateway machine's to check
        if self.record.spec.service:  # every replica and the balancer
            from roost.serve.controller import serving

            names = [name for name, _ in serving(self, status.apps)]
            wanted = [status.apps.get(name) for name in [*names, "gateway"]]
            return bool(names) and all(app is not None and app.healthy for app in wanted)
        app = status.apps.get(self.driver.name)
        return bool(app and app.healthy)


def open_session(state: State, name: str) -> MachineSession:
    """The session of a known machine; MachineNotFound otherwise."""
    record = state.get(name)
    if record is None:
        raise MachineNotFound(name)
    return MachineSession(state, record)


def load_session(name: str) -> MachineSession:
    """A known machine's session on its own state connection (MachineNotFound otherwise)."""
    state = State()
    try:
        return open_session(state, name)
    finally:
        state.close()  # reopened on demand by the session's own use
