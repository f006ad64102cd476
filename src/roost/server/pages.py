"""The dashboard's pages: server-rendered from the monitor's cache, kept live by static/app.js."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import roost
from roost.server.deps import known, monitor_of

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _ago(at: float | None) -> str:
    if not at:
        return "-"
    seconds = max(0, time.time() - at)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f}m ago" if seconds < 5400 else f"{seconds / 3600:.1f}h ago"


templates.env.filters["ago"] = _ago
templates.env.filters["usd"] = lambda value: f"${value:,.2f}"
templates.env.filters["clock"] = lambda at: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def _page(request: Request, template: str, page: str, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"page": page, "csrf": request.app.state.keys.csrf, "version": roost.__version__, **values}
    )


@router.get("/", response_class=HTMLResponse)
def machines_page(request: Request) -> HTMLResponse:
    """Machines: state, app health, URL, GPUs, $/h, spend, autostop; stop, start, down."""
    machines = monitor_of(request).machines()
    spend = {cost.name: cost.spend_usd for cost in roost.cost()} if any(m.hourly_usd for m in machines) else {}
    return _page(request, "machines.html", "machines", machines=machines, spend=spend)


@router.get("/machines/{name}", response_class=HTMLResponse)
def machine_page(request: Request, name: str) -> HTMLResponse:
    """One machine: its app log (live), jobs, backups, gateway users, events."""
    return _page(request, "machine.html", "machine", machine=known(request, name))


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> HTMLResponse:
    """Jobs across machines, and the jobs handed to the server with their recoveries."""
    return _page(request, "jobs.html", "jobs", managed=list(reversed(roost.managed_jobs())))


@router.get("/machines/{name}/jobs/{job}", response_class=HTMLResponse)
def job_page(request: Request, name: str, job: str) -> HTMLResponse:
    """One job: its log streamed live, cancel, outputs."""
    known(request, name)
    return _page(request, "job.html", "job", machine=name, job=job)


@router.get("/services", response_class=HTMLResponse)
def services_page(request: Request) -> HTMLResponse:
    """The machines that run services."""
    services = [m for m in monitor_of(request).machines() if m.service]
    return _page(request, "services.html", "services", services=services)


@router.get("/services/{name}", response_class=HTMLResponse)
def service_page(request: Request, name: str) -> HTMLResponse:
    """A service: replicas, charts of their figures over the last hour, the controller's events."""
    return _page(request, "service.html", "service", machine=known(request, name))


@router.get("/costs", response_class=HTMLResponse)
def costs_page(request: Request) -> HTMLResponse:
    """Spend per machine per day, and $/h now."""
    return _page(request, "costs.html", "costs")


@router.get("/offers", response_class=HTMLResponse)
def offers_page(request: Request) -> HTMLResponse:
    """A form for the cheapest fitting offers."""
    return _page(request, "offers.html", "offers")
