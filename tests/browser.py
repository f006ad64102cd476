"""A real browser for tests: Playwright driving Debian's Chromium (Playwright's own download
cannot reach the network here), and the SPKI pin that lets it trust one test server's TLS key."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("ROOST_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def launch_args(spki: str | None = None) -> dict:
    """Playwright's launch arguments for Debian's Chromium (``spki``: trust that key's certificate)."""
    args = ["--no-sandbox", "--disable-dev-shm-usage"]  # as root, and /dev/shm is small in containers
    if spki:
        args.append(f"--ignore-certificate-errors-spki-list={spki}")
    return {"executable_path": CHROMIUM, "headless": True, "args": args}


@contextlib.contextmanager
def chromium(spki: str | None = None) -> Iterator[Browser]:
    """A headless Chromium, closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_args(spki))
        try:
            yield browser
        finally:
            browser.close()


def spki_pin(host: str, port: int, ca: Path) -> str:
    """The base64 SHA-256 of the server's public key, after its certificate verified against ``ca``."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    public = x509.load_der_x509_certificate(der).public_key()
    spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
