"""Small helpers the tests share: waiting, process liveness, ports and HTTP."""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

# the test hosts' and the fake cloud's networks; others let a second run (one test file) go
# beside a whole run
SSH_NET = os.environ.get("ROOST_TEST_SSH_NET", "10.251.0")
AWS_NET = os.environ.get("ROOST_TEST_AWS_NET", "10.252.0")


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """The first truthy value of ``check()``; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """True while the process runs (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(url: str) -> bool:
    """True when something accepts connections at the URL's host and port."""
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def http_get(url: str) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def answers(url: str) -> bool:
    """True when the URL answers 200."""
    return http_get(url)[0] == 200


def base_of(url: str) -> str:
    """scheme://host:port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
