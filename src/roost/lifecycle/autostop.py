"""``roost autostop NAME 30m|off [--down]``: change a running machine's autostop at once."""

from __future__ import annotations

from pydantic import BaseModel

from roost.errors import BackendError, SpecError
from roost.machine.record import MachineState
from roost.machine.state import State, machine_lock
from roost.session import open_session
from roost.spec.base import parse_duration
from roost.spec.model import Autostop

OFF = ("off", "none", "never")


class AutostopResult(BaseModel):
    """The machine's autostop now: idle seconds (None: off), whether it then goes down, and when
    it would stop if nothing happens (epoch seconds on the machine's clock)."""

    name: str
    idle_seconds: float | None
    down: bool
    autostop_at: float | None


def parse_idle(value: str) -> float | None:
    """Seconds from ``30m``, ``2h``, ``90s`` (or minutes); None for ``off``; SpecError otherwise."""
    if value.strip().lower() in OFF:
        return None
    try:
        return parse_duration(value.strip())
    except ValueError as exc:
        raise SpecError(
            str(exc), file="<command line>", field="autostop", value=value, hint="write 30m, 2h or 90s, or off"
        ) from None


def set_autostop(name: str, idle: str, *, down: bool = False) -> AutostopResult:
    """Give the running machine a new autostop (idle time counted from now), kept in its record so
    ``roost start`` keeps it; a later ``roost up`` of a spec sets the spec's again."""
    seconds = parse_idle(idle)
    if down and seconds is None:
        raise SpecError("--down needs an idle time", file="<command line>", field="autostop", value=idle)
    with machine_lock(name):
        state = State()
        try:
            session = open_session(state, name)
            record = session.record
            if session.backend.status(record) != MachineState.RUNNING or record.facts.home is None:
                raise BackendError(f"machine '{name}' is not running", hint=f"`roost start {name}` first")
            was_down = bool(record.spec.autostop and record.spec.autostop.down)
            if down or was_down:
                session.backend.set_autostop_down(record, down)
            session.agent.put_config(autostop_seconds=seconds, poweroff_command=session.backend.poweroff_command())
            wanted = Autostop.model_validate({"idle": f"{seconds}s", "down": down}) if seconds is not None else None
            record.spec = record.spec.model_copy(update={"autostop": wanted})
            session.save()
            status = session.agent.status()
            at = status.last_activity + seconds if seconds is not None and status.last_activity else None
            return AutostopResult(name=name, idle_seconds=seconds, down=down, autostop_at=at)
        finally:
            state.close()
