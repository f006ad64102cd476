"""A tiny HTTP replica for the service tests and benchmarks (stdlib only; copied to machines).

    python3 replica_server.py PORT [VERSION [NAME]]

GET answers ``NAME VERSION`` (NAME defaults to ``replica PORT``; ``{host}`` in it becomes the
machine's hostname), except ``/never``, which answers 503 (a probe that never succeeds), and
``/auth``, which answers the Authorization header it received (``authorization: none``).
Nagle's algorithm is off, as in real servers (uvicorn, tornado), and a response is one write.
"""

import http.server
import socket
import sys

PORT = int(sys.argv[1])
VERSION = sys.argv[2] if len(sys.argv) > 2 else "v1"
NAME = (sys.argv[3] if len(sys.argv) > 3 else "replica {port}").format(host=socket.gethostname(), port=PORT)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        body = f"{NAME} {VERSION}".encode() if self.path != "/never" else b""
        if self.path == "/auth":
            body = f"authorization: {self.headers.get('Authorization') or 'none'}".encode()
        status = "503 Service Unavailable" if self.path == "/never" else "200 OK"
        # the whole response in one write, as real servers send a small one: a kill -9 lands
        # before it (the balancer retries elsewhere) or after it, never between head and body
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.wfile.write(head + body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
