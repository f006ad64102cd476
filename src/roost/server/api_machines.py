"""``/api/v1/machines``: list, one, up from a spec, stop, start, down, the app's log."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, TypeAdapter

import roost
from roost.lifecycle.info import MachineStatus
from roost.lifecycle.machines import DownResult, UpResult
from roost.server.deps import SpecBody, known, monitor_of, spec_of

router = APIRouter(prefix="/api/v1", tags=["machines"])
_MACHINES = TypeAdapter(list[MachineStatus])


class AppLog(BaseModel):
    """The last lines of a machine's app log."""

    machine: str
    text: str


@router.get("/machines", response_model=list[MachineStatus])
def machines(request: Request) -> Response:
    """Every machine as last probed (``roost status --json`` has the same shape)."""
    return Response(_MACHINES.dump_json(monitor_of(request).machines()), media_type="application/json")


@router.get("/machines/{name}")
def machine(request: Request, name: str) -> MachineStatus:
    """One machine as last probed; 404 for an unknown name."""
    return known(request, name)


@router.post("/machines")
def up(request: Request, body: SpecBody) -> UpResult:
    """Bring a machine up from a spec (``roost up``); a bad spec is 422 with file, line and field."""
    result = roost.up(spec_of(body), name=body.name)
    monitor_of(request).probe_soon()
    return result


@router.post("/machines/{name}/stop")
def stop(request: Request, name: str) -> DownResult:
    """Stop the machine; its data is kept."""
    known(request, name)
    result = roost.stop(name)
    monitor_of(request).probe_soon()
    return result


@router.post("/machines/{name}/start")
def start(request: Request, name: str) -> UpResult:
    """Start a stopped machine with the same app and data."""
    known(request, name)
    result = roost.start(name)
    monitor_of(request).probe_soon()
    return result


@router.delete("/machines/{name}")
def down(request: Request, name: str, no_backup: bool = False) -> DownResult:
    """Take the machine down (a second ``down`` waits for the machine's lock)."""
    known(request, name)
    result = roost.down(name, no_backup=no_backup)
    monitor_of(request).probe_soon()
    return result


@router.get("/machines/{name}/log")
def app_log(request: Request, name: str, lines: int = 200) -> AppLog:
    """The app's last ``lines`` log lines."""
    known(request, name)
    return AppLog(machine=name, text=roost.logs(name, lines=min(max(lines, 1), 5000)).stdout)
