"""Run the server in this process (``roost server``): uvicorn, the watchers, the login URL."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable

import uvicorn
from fastapi import FastAPI

from roost.server.app import create_app
from roost.server.token import ServerInfo, forget_running, login_token, note_running
from roost.watch import Watchers

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def login_url(url: str, token: str) -> str:
    """The address that logs a browser in (``?token=`` is dropped from it after the first load)."""
    return f"{url}/?token={token}"


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    probe_every: float = 10.0,
    say: Callable[[str], None] = print,
    on_ready: Callable[[str], None] | None = None,
    show_token: bool = True,
) -> None:
    """Serve the API and dashboard until interrupted; ``say`` gets the login URL once it listens
    (without the token when not ``show_token``: a server whose output goes to a log file)."""
    token = login_token()
    watchers = Watchers(probe_every=probe_every)
    app = create_app(token, watchers)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watchers.start()
        try:
            yield
        finally:
            watchers.stop()
            forget_running(os.getpid())

    def listening(port: int) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
        note_running(ServerInfo(url=url, pid=os.getpid()))
        say(f"roost server: {login_url(url, token) if show_token else url + '/ (log in: `roost dashboard`)'}")
        if host not in LOOPBACK:
            say("warning: listening beyond this computer over plain HTTP; put it behind TLS (app: roost-server)")
        if on_ready is not None:
            on_ready(url)

    app.router.lifespan_context = lifespan
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # uvicorn's would write the query string, and with it a login token
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",  # the gateway's Caddy on the same machine
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    _AnnouncingServer(config, listening).run()


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, which says where it listens once its socket accepts connections."""

    def __init__(self, config: uvicorn.Config, listening: Callable[[int], None]) -> None:
        super().__init__(config)
        self.listening = listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening(next(int(s.getsockname()[1]) for server in self.servers for s in server.sockets))
