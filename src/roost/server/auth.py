"""Who may use the server: the login token, its cookie, and protection against cross-site requests.

- ``Authorization: Bearer TOKEN`` (API clients, the CLI): every request; no cookie involved.
- A browser opens ``/?token=TOKEN`` once: it gets an HttpOnly, SameSite=Strict cookie and is sent
  to the same page without the token in its address (as Jupyter does).
- A state-changing request on the cookie must come from the server's own origin and carry the
  CSRF token that the pages embed (``X-CSRF-Token``); otherwise 403.
The token itself is never logged: the server's access log writes paths without query strings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

SESSION_COOKIE = "roost_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = ("/static/", "/healthz")
access_log = logging.getLogger("roost.server.access")


class Keys:
    """What the token derives: the cookie's value and the CSRF token (neither reveals it)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.session = self._derive("session")
        self.csrf = self._derive("csrf")

    def _derive(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    def is_token(self, value: str | None) -> bool:
        """True when ``value`` is the login token (compared in constant time)."""
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _same_origin(request: Request) -> bool:
    """The request's Origin (or, failing that, Referer) is this server's own address."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def _refuse(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status, headers={"WWW-Authenticate": "Bearer"})
    return PlainTextResponse(message, status_code=status)


class LoginMiddleware(BaseHTTPMiddleware):
    """Lets through requests with the token (header or cookie) and refuses the rest; see the module."""

    def __init__(self, app: object, keys: Keys) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.keys = keys

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.monotonic()
        response = await self._checked(request, call_next)
        # the path only: a query string may hold the login token
        access_log.info(
            "%s %s %d %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    async def _checked(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith(OPEN_PATHS):
            return await call_next(request)
        if "token" in request.query_params and request.method == "GET" and not path.startswith("/api/"):
            return self._log_in(request)
        bearer = _bearer(request)
        if bearer is not None:
            if not self.keys.is_token(bearer):
                return _refuse(request, 401, "wrong token")
            return await call_next(request)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if not hmac.compare_digest(cookie.encode(), self.keys.session.encode()):
            return _refuse(request, 401, "log in: open the URL `roost server` printed (it holds ?token=)")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not _same_origin(request) or not hmac.compare_digest(sent.encode(), self.keys.csrf.encode()):
                return _refuse(request, 403, "refused: a cross-site request, or no CSRF token")
        return await call_next(request)

    def _log_in(self, request: Request) -> Response:
        if not self.keys.is_token(request.query_params.get("token")):
            return _refuse(request, 401, "wrong token")
        rest = [(key, value) for key, value in request.query_params.multi_items() if key != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE, self.keys.session, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response
