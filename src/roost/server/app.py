"""The server's ASGI application: API routers, pages, static files, login, errors as JSON."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import roost
from roost.errors import LockTimeout, MachineNotFound, RoostError, SpecError
from roost.server import api_jobs, api_machines, api_more, pages
from roost.server.auth import Keys, LoginMiddleware
from roost.watch import Watchers

HERE = Path(__file__).parent
log = logging.getLogger("roost.server")


def _status_of(exc: RoostError) -> int:
    if isinstance(exc, SpecError):
        return 422
    if isinstance(exc, MachineNotFound):
        return 404
    if isinstance(exc, LockTimeout):
        return 409
    return 400


async def _roost_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RoostError)
    body: dict[str, object] = {"error": str(exc), "kind": type(exc).__name__}
    if isinstance(exc, SpecError):
        body.update(file=exc.file, line=exc.line, field=exc.field)
    return JSONResponse(body, status_code=_status_of(exc))


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    return JSONResponse({"error": f"bad request: {problems}", "kind": "RequestError"}, status_code=422)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.exception("bug in roost while serving %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": "this is a bug in roost; the server's log has the traceback", "kind": "Bug"}, status_code=500
    )


def create_app(token: str, watchers: Watchers) -> FastAPI:
    """The application for one login token and the watchers (started and stopped by its lifespan)."""
    app = FastAPI(title="roost", version=roost.__version__, docs_url="/api/docs", openapi_url="/api/v1/openapi.json")
    app.state.monitor = watchers.monitor
    app.state.poke_jobs = watchers.poke_jobs
    app.state.keys = Keys(token)
    app.add_middleware(LoginMiddleware, keys=app.state.keys)
    app.add_exception_handler(RoostError, _roost_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(Exception, _bug)
    for module in (api_machines, api_jobs, api_more, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
