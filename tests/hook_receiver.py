"""A webhook receiver on 127.0.0.1 for apprise's json:// notifications, as a test's witness."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HookReceiver:
    """Collects every JSON body POSTed to it (with its Authorization header) until closed."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(json.loads(body or b"{}"))
                receiver.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def titled(self, words: str) -> list[dict]:
        """The notifications whose title holds ``words``."""
        return [r for r in self.received if words in str(r.get("title", ""))]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
