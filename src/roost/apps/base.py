"""The app contract: what an app (Jupyter, Label Studio, ...) tells roost about itself.

An app knows a Runner and the agent, never a backend. It contributes install/configure
steps, the definition the agent supervises, its health path, and how a user logs in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from roost.agent.client import AgentClient, AppDefinition
from roost.errors import AppError
from roost.machine.record import MachineRecord
from roost.machine.steps import Step
from roost.machine.tools import MachineTools
from roost.machine.vault import Vault
from roost.transport.base import Runner


@dataclass
class AppContext:
    """Everything an app may use while it is set up on one machine."""

    record: MachineRecord
    runner: Runner
    agent: AgentClient
    make_tools: Callable[[], MachineTools]
    vault: Vault
    public_host: str | None = None
    """The gateway's public name when the machine is shared (apps that check origins need it)."""
    _tools: MachineTools | None = field(default=None, repr=False)

    @property
    def tools(self) -> MachineTools:
        """The machine's installers, prepared (e.g. uv pushed) on first use."""
        if self._tools is None:
            self._tools = self.make_tools()
        return self._tools

    @property
    def home(self) -> str:
        """roost's directory on the machine."""
        assert self.record.facts.home, "the machine must be provisioned first"
        return self.record.facts.home


class AppDriver(ABC):
    """One kind of app. Subclasses are small: steps, a definition, a URL path, a login."""

    name: str
    url_path: str = "/"
    secret_key: str | None = None
    """The vault key of the app's password, if roost makes one."""
    has_own_login: bool = False
    """True when the app asks for a login itself; the gateway adds one in front otherwise."""
    keeps_data: bool = False
    """True when the app holds data roost backs up (``roost backup``, ``backup:``, before stop/down)."""
    health_timeout: float = 120.0

    @abstractmethod
    def steps(self, ctx: AppContext) -> list[Step]:
        """Install and configure steps, each idempotent."""

    def config_steps(self, ctx: AppContext) -> list[Step]:
        """Steps that need neither the app's install nor the agent (its own config files): they
        run beside both, in a lane of their own, so a launch waits only for the longest lane."""
        return []

    def after_agent_steps(self, ctx: AppContext) -> list[Step]:
        """Steps that need the agent running (a database it supervises), before the app starts."""
        return []

    @abstractmethod
    def definition(self, ctx: AppContext) -> AppDefinition:
        """How the agent runs the app (argv, env, port, health path)."""

    def login_hint(self, ctx: AppContext) -> str:
        """How the user logs in, without the secret itself. An app without a login of its own
        (the default): shared, the gateway's users; else nobody but this machine reaches it."""
        if ctx.record.spec.share:
            return f"log in with a gateway user (`roost users add {ctx.record.name} USER`)"
        return "no login: the app listens on the machine's 127.0.0.1 only"

    def job_env(self, home: str, port: int | None) -> dict[str, str]:
        """What a job on the same machine is told about the app (TensorBoard's log folder,
        MLflow's address, ...), from the machine's home and the app's port."""
        return {}

    def backup_config(self, ctx: AppContext) -> dict[str, object]:
        """What the snapshot and restore scripts need (an app with ``keeps_data``): its data
        directory, its name, and its database's settings when it has one."""
        raise AppError(f"the app '{self.name}' keeps no data roost backs up", hint="backups are for Label Studio")
