"""What routes share: the monitor, request bodies, and where the server keeps job outputs."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from pydantic import BaseModel, Field

from roost.errors import MachineNotFound
from roost.lifecycle.info import MachineStatus
from roost.server.token import server_dir
from roost.spec.loader import load_spec_text
from roost.spec.model import Spec
from roost.watch.machines import Monitor


class SpecBody(BaseModel):
    """A spec sent to the server: its YAML text (as in a spec file) and an optional machine name."""

    spec: str = Field(description="the spec's YAML text, or an app name such as 'jupyter'")
    name: str | None = None
    file: str = Field("<api>", description="what errors call the spec (the client's file name)")


def monitor_of(request: Request) -> Monitor:
    """The server's monitor."""
    monitor: Monitor = request.app.state.monitor
    return monitor


def known(request: Request, name: str) -> MachineStatus:
    """The machine's cached status; MachineNotFound (404) for a name the state does not know."""
    found = monitor_of(request).machine(name)
    if found is None:
        raise MachineNotFound(name)
    return found


def spec_of(body: SpecBody) -> Spec | str:
    """The body's spec: a Spec from YAML text (checked as a file is), or an app name as given."""
    text = body.spec.strip()
    if "\n" not in text and ":" not in text:
        return text  # an app name: `roost up jupyter`
    sent_from = Path(body.file).parent
    # a client on this computer sends its spec's absolute path: its workdir is beside it
    base = sent_from if sent_from.is_absolute() and sent_from.is_dir() else Path.cwd()
    return load_spec_text(body.spec, file=body.file, base_dir=base)


def outputs_root() -> Path:
    """Where jobs' outputs downloaded through the server go (ROOST_HOME/server/outputs)."""
    folder = server_dir() / "outputs"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder
