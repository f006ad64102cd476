"""What a browser keeps between requests to one site: its base URL and its cookies."""

from __future__ import annotations

import http.cookiejar
import urllib.request


class BrowserSession:
    """A cookie jar and an opener that uses it (tests swap the opener for HTTPS with a pinned CA)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        """The value of cookie ``name`` ("" when the site has not set it)."""
        return next((c.value for c in self.jar if c.name == name), "")
