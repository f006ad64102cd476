"""Files, process identity, signals, probes and log rotation: the agent's small tools."""

from __future__ import annotations

import json
import os
import time


class Paths:
    """Where the agent keeps its files under one home directory."""

    def __init__(self, home: str) -> None:
        self.home = os.path.abspath(home)
        self.agent = os.path.join(self.home, "agent")
        self.apps = os.path.join(self.agent, "apps")
        self.run = os.path.join(self.agent, "run")
        self.logs = os.path.join(self.home, "logs")
        self.pid_file = os.path.join(self.agent, "agent.pid")
        self.daemon_lock = os.path.join(self.agent, "daemon.lock")
        self.start_lock = os.path.join(self.agent, "start.lock")
        self.status_file = os.path.join(self.agent, "status.json")
        self.agent_log = os.path.join(self.agent, "agent.log")
        self.config_file = os.path.join(self.agent, "config.json")
        self.jobs = os.path.join(self.home, "jobs")

    def ensure(self) -> None:
        for path in (self.agent, self.apps, self.run, self.logs, self.jobs):
            os.makedirs(path, mode=0o700, exist_ok=True)

    def app_log(self, name: str) -> str:
        return os.path.join(self.logs, name + ".log")

    def app_pid(self, name: str) -> str:
        return os.path.join(self.run, name + ".pid")


def proc_identity(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def is_alive(pid: int, starttime: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``starttime``."""
    ident = proc_identity(pid)
    if ident is None or ident[0] in ("Z", "X"):
        return False
    return starttime is None or ident[1] == starttime


def write_json_atomic(path: str, data: object) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def digest(definition: dict) -> str:
    """A short fingerprint of an app definition, to tell which one is running."""
    import hashlib

    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} {message}", flush=True)


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (apps run in their own session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def probe(url: str) -> bool:
    """True when ``url`` answers 2xx/3xx within a second."""
    import urllib.error  # only the daemon probes; keeps the other commands quick to start
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def established_ports() -> set[int]:
    """Local ports with an established TCP connection (from /proc/net/tcp and tcp6)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "01":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def rotate(path: str, max_bytes: int, keep: int) -> bool:
    """Copy-and-truncate ``path`` once it passes ``max_bytes``; keep ``keep`` old copies."""
    try:
        if os.path.getsize(path) <= max_bytes:
            return False
    except OSError:
        return False
    for index in range(keep - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")
    with open(path, "rb") as src, open(f"{path}.1", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.truncate(path, 0)  # writers use O_APPEND, so they continue at the new end
    return True


def unix_http_get(sock_path: str, path: str) -> str | None:
    """The body of GET ``path`` from an HTTP server on a unix socket (Caddy's admin API); None
    when it does not answer."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(sock_path)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: \r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None
    return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
