"""A machine's record together with its backend, runner, agent and app driver."""

from __future__ import annotations

from roost.agent.client import AgentClient, AgentStatus
from roost.apps import AppContext, AppDriver, app_driver
from roost.backends import Backend, get_backend
from roost.errors import AgentError, MachineNotFound
from roost.machine.record import MachineRecord
from roost.machine.state import State
from roost.machine.vault import Vault
from roost.spec.model import Spec
from roost.transport.base import Runner


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
    def runner(self) -> Runner:
        """Commands on this machine (the one way to get its runner; the agent uses the same)."""
        return self.backend.runner(self.record)

    @property
    def agent(self) -> AgentClient:
        """The agent on this machine (requires a provisioned machine)."""
        assert self.record.facts.home
        return AgentClient(self.runner, self.record.facts.home)

    def context(self) -> AppContext:
        """What the app driver works with."""
        return AppContext(
            record=self.record,
            runner=self.runner,
            agent=self.agent,
            make_tools=lambda: self.backend.tools(self.record),
            vault=Vault(self.record.name),
            public_host=self.public_host() if self.record.spec.share else None,
        )

    def public_host(self) -> str:
        """The name a shared machine's gateway answers to: the spec's domain, else the host's address."""
        return self.record.spec.domain or self.backend.address(self.record)

    def url(self) -> str | None:
        """The app's URL as seen from this computer (None for a machine without an app)."""
        if self.driver is None or not self.record.facts.app.port:
            return None
        if self.record.spec.share:
            return f"https://{self.public_host()}{self.driver.url_path}"
        return self.backend.app_url(self.record, self.record.facts.app.port, self.driver.url_path)

    def save(self) -> None:
        """Persist the record (facts and state)."""
        self.state.save(self.record)

    def agent_status(self) -> AgentStatus | None:
        """What the agent reports (None when the machine was never provisioned or the agent
        does not answer)."""
        if self.record.facts.home is None:
            return None
        try:
            return self.agent.status()
        except AgentError:
            return None

    def job_venv(self) -> str:
        """The venv that holds the spec's ``packages`` for setup, jobs and route replicas."""
        return f"{self.record.facts.home}/venvs/job"

    def job_path(self) -> dict[str, str]:
        """Environment that puts the job venv first on PATH (when the spec has packages)."""
        if not self.record.spec.packages:
            return {}
        venv = self.job_venv()
        return {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": venv}


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
