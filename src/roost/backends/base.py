"""The backend contract: how roost gets, reaches, stops and removes a machine.

A backend is a small set of lifecycle verbs over a :class:`MachineRecord`. It maps its
provider's own states onto :class:`MachineState` in one table (``STATE_MAP``), returns a
:class:`Runner` for commands, and says which tools the machine uses for installs. Apps
never see a backend, only its runner; backends never import each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from roost.errors import BackendError
from roost.machine.record import MachineFacts, MachineRecord, MachineState
from roost.machine.steps import Step
from roost.machine.tools import MachineTools
from roost.transport.base import Runner
from roost.transport.rsync import RsyncRoute
from roost.transport.ssh.target import SshTarget


class Backend(ABC):
    """Lifecycle verbs for one kind of machine. Every verb is idempotent."""

    kind: ClassVar[str]
    creates_resources: ClassVar[bool] = False
    """True when the backend creates billable things (a failed new machine is then cleaned up)."""
    powers_off: ClassVar[bool] = False
    """True when ``stop`` powers the machine off (nothing on it answers while stopped)."""
    accept_new_host_key: bool = False
    """True when a host key seen for the first time may be trusted (``--accept-new-host-key``);
    a worker or node machine brought up for this one inherits it."""
    say: Callable[[str], None] = staticmethod(lambda line: None)
    """Where the backend tells the user about choices it made (set by the caller)."""
    confirm: Callable[[str], bool] | None = None
    """Asked with what a new billed machine will cost before anything is made (None: not asked);
    False stops there, with nothing created."""
    STATE_MAP: ClassVar[dict[str, MachineState]]
    """The provider's raw states (keys) as roost's states (values): the one mapping table."""

    @abstractmethod
    def provision(self, record: MachineRecord) -> MachineFacts:
        """Create the machine, or find the one already created for this record."""

    def provision_steps(self, record: MachineRecord, save: Callable[[], None]) -> list[Step]:
        """Named steps that must run before ``provision`` (a cloud's resources), each one safe
        to repeat; ``save`` persists ``record.facts`` after each. None by default."""
        return []

    def terminate_steps(self, record: MachineRecord) -> list[Step]:
        """``down`` as named, repeatable steps; by default one step that calls ``terminate``."""
        return [Step("terminate", "remove the machine", lambda: self.terminate(record), always=True)]

    def poweroff_command(self) -> str | None:
        """What the agent runs on the machine after an autostop to power it off (None: it
        only stops the apps and itself)."""
        return None

    def set_autostop_down(self, record: MachineRecord, down: bool) -> None:
        """Make the machine's next autostop take it down (``down``) or only stop it. Only a cloud
        machine can go away by itself: elsewhere ``down`` is refused, as roost would need to act."""
        if down:
            raise BackendError(
                f"an autostop can take down cloud machines only; '{record.name}' ({record.backend}) "
                "stops its apps when idle",
                hint="leave out --down (or `roost down` it yourself)",
            )

    def bank_stopped(self, record: MachineRecord) -> None:
        """The machine was found stopped: close its billed running time (nothing to bill here)."""
        return None

    def billed_seconds(self, record: MachineRecord) -> float:
        """Seconds of machine time billed so far (0 where nothing is billed)."""
        return 0.0

    @abstractmethod
    def wait_ready(self, record: MachineRecord, timeout: float = 300.0) -> None:
        """Return once the machine accepts commands; raise BackendError after ``timeout``."""

    @abstractmethod
    def runner(self, record: MachineRecord) -> Runner:
        """A runner for commands on the machine."""

    @abstractmethod
    def tools(self, record: MachineRecord) -> MachineTools:
        """Where the machine's uv and uv cache are (shipping them there if needed)."""

    @abstractmethod
    def raw_state(self, record: MachineRecord) -> str:
        """The provider's own word for the machine's state (a key of STATE_MAP)."""

    def status(self, record: MachineRecord) -> MachineState:
        """The machine's state in roost's terms, through STATE_MAP."""
        return self.STATE_MAP[self.raw_state(record)]

    @abstractmethod
    def stop(self, record: MachineRecord) -> None:
        """Stop the machine, keeping its disk. The caller has stopped the agent first."""

    @abstractmethod
    def start(self, record: MachineRecord) -> None:
        """Start a stopped machine. The caller starts the agent afterwards."""

    @abstractmethod
    def terminate(self, record: MachineRecord) -> None:
        """Delete the machine and everything roost created for it."""

    @abstractmethod
    def rsync_route(self, record: MachineRecord) -> RsyncRoute:
        """How rsync reaches the machine (over the same connection as the runner)."""

    def ssh_target(self, record: MachineRecord) -> SshTarget | None:
        """Where and as whom to reach the machine over SSH (None: it is this computer)."""
        return None

    def address(self, record: MachineRecord) -> str:
        """The machine's address as other machines and browsers reach it."""
        target = self.ssh_target(record)
        return target.hostname if target is not None else "127.0.0.1"

    def peer_address(self, record: MachineRecord) -> str:
        """The address the machine's peers (the other nodes of its job) reach it at."""
        return self.address(record)

    @abstractmethod
    def app_url(self, record: MachineRecord, port: int, path: str) -> str:
        """A URL on this computer that reaches ``port`` on the machine's 127.0.0.1."""
