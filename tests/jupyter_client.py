"""A tiny real HTTP client for Jupyter's password login, as a browser would do it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tests.browser_session import BrowserSession


class JupyterSession(BrowserSession):
    """Cookies and XSRF token of one browser-like session against a Jupyter server."""

    def _xsrf(self) -> str:
        return self.cookie("_xsrf")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers={"X-XSRFToken": self._xsrf(), **(headers or {})}
        )
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def login(self, password: str) -> bool:
        """Log in through /login; True when the server accepted the password."""
        self.request("GET", "/login")
        form = urllib.parse.urlencode({"password": password, "_xsrf": self._xsrf()}).encode()
        self.request("POST", "/login?next=%2Fapi%2Fstatus", form, {"Content-Type": "application/x-www-form-urlencoded"})
        return self.request("GET", "/api/status")[0] == 200

    def save_text(self, name: str, text: str) -> int:
        body = json.dumps({"type": "file", "format": "text", "content": text}).encode()
        return self.request("PUT", f"/api/contents/{name}", body, {"Content-Type": "application/json"})[0]

    def read_text(self, name: str) -> str | None:
        status, body = self.request("GET", f"/api/contents/{name}?content=1")
        return json.loads(body)["content"] if status == 200 else None
