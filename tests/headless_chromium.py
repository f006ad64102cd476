"""Debian's Chromium, headless, driven over the DevTools protocol (a small stdlib client).

Used by the dashboard test: open a page through the gateway with a login (an Authorization
header on every request, the websocket's included), wait for text to appear once the page's
JavaScript has run, and save a screenshot. The gateway's certificate is trusted by pinning
its public key (``--ignore-certificate-errors-spki-list``) after Python checked it against
the CA roost pinned, so no other certificate would be accepted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


def spki_pin(host: str, port: int, ca: Path) -> str:
    """The base64 SHA-256 of the server's public key, after its certificate verified against ``ca``."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    public = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, text=True, check=True
    ).stdout
    spki = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=public.encode(), capture_output=True, check=True
    ).stdout
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class DevToolsSocket:
    """A websocket to one DevTools target: JSON commands in, their results out."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"DevTools refused the websocket: {head[:200]!r}")
        self.next_id = 0

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("DevTools closed the websocket")
            data += chunk
        return data

    def _frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        return first, self._read(length)

    def _message(self) -> dict:
        payload = b""
        while True:
            first, data = self._frame()
            payload += data
            if first & 0x80:  # FIN
                return json.loads(payload)

    def call(self, method: str, **params: object) -> dict:
        """Send one command and return its result (events in between are skipped)."""
        self.next_id += 1
        body = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        length = len(body)
        header = bytes([0x81]) + (
            bytes([0x80 | length])
            if length < 126
            else bytes([0x80 | 126]) + struct.pack(">H", length)
            if length < 65536
            else bytes([0x80 | 127]) + struct.pack(">Q", length)
        )
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
        while True:
            message = self._message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})


class HeadlessChromium:
    """One headless Chromium with a private profile; ``close`` ends it (by its PID) and deletes it."""

    def __init__(self, *, spki: str | None = None) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise RuntimeError("chromium is not installed (make test installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="roost-chromium-")
        argv = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self.profile}",
            "--window-size=1200,1000",
            "about:blank",
        ]
        if spki:
            argv.insert(1, f"--ignore-certificate-errors-spki-list={spki}")
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file, deadline = Path(self.profile) / "DevToolsActivePort", time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.process.stderr.read().decode()[-800:] if self.process.stderr else ""
                raise RuntimeError(f"chromium did not start: {said}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(target for target in targets if target["type"] == "page")
        self.page = DevToolsSocket(page["webSocketDebuggerUrl"])

    def open(self, url: str, headers: dict[str, str] | None = None) -> None:
        """Navigate to ``url`` sending ``headers`` with every request of the page."""
        self.page.call("Network.enable")
        if headers:
            self.page.call("Network.setExtraHTTPHeaders", headers=headers)
        self.page.call("Page.enable")
        self.page.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> object:
        """The value of a JavaScript expression in the page."""
        result = self.page.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        """The page's visible text now."""
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_for_text(self, needle: str, timeout: float) -> str:
        """The page's text once it contains ``needle``; TimeoutError with the last text otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise TimeoutError(f"{needle!r} did not appear in {timeout:.0f}s; the page shows: {text[:500]!r}")
            time.sleep(0.5)

    def wait_for(self, expression: str, timeout: float) -> object:
        """The value of ``expression`` once it is truthy; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} stayed false for {timeout:.0f}s")
            time.sleep(0.5)
        return value

    def screenshot(self, path: Path) -> None:
        """Save the page as PNG."""
        data = self.page.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
