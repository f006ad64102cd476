"""Local port forwards to an app's 127.0.0.1 port on a host: tracked, reused, restarted.

Each machine has at most one tunnel: an ``ssh -N -L`` process of its own (so it outlives
the roost command that made it), recorded with its PID and start time under
``$ROOST_HOME/tunnels/NAME.json``. Nothing is opened on the host's network.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from roost.errors import HostUnreachable
from roost.paths import roost_home
from roost.transport.ssh.target import SshTarget

INTERACTIVE = ["-tt"]
"""A terminal session keeps the tunnel's connection interactive: sshd and ssh then send each
packet at once (TCP_NODELAY). A bare ``ssh -N`` connection holds the second small packet of a
response until the first is acknowledged, which costs about 40 ms per response (measured: a
small HTTP response through ``ssh -N -L`` 44 ms at the median, through this 0.6 ms)."""
HOLD = "exec sleep 2147483647"
"""What the tunnel's terminal session runs: nothing, until the tunnel ends (the terminal's
hang-up ends it on the machine)."""


def _record_path(name: str) -> Path:
    path = roost_home() / "tunnels"
    path.mkdir(mode=0o700, exist_ok=True)
    return path / f"{name}.json"


def _starttime(pid: int) -> int | None:
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port(preferred: int | None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            # as ssh binds its forward: connections of an earlier tunnel in TIME_WAIT do not block it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free local port")


def _read(name: str) -> dict | None:
    try:
        return json.loads(_record_path(name).read_text())
    except (OSError, ValueError):
        return None


def ensure_tunnel(name: str, target: SshTarget, remote_port: int) -> int:
    """The local port of a live tunnel to ``remote_port``; starts (or restarts) one if needed."""
    record = _read(name)
    if (
        record
        and record["pid"] > 0
        and record["remote_port"] == remote_port
        and _starttime(record["pid"]) == record["starttime"]
        and _answers(record["local_port"])
    ):
        return int(record["local_port"])
    close_tunnel(name)
    record = _read(name)
    local_port = _free_port(record["local_port"] if record else None)  # keep the URL stable
    log = open(_record_path(name).with_suffix(".log"), "ab")  # noqa: SIM115  (the tunnel writes it after we return)
    proc = subprocess.Popen(
        [
            *target.ssh_argv(master=False),
            *INTERACTIVE,
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}",
            "--",  # the destination is never read as an option
            target.label,
            HOLD,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + target.connect_timeout + 5
    while not _answers(local_port):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            raise HostUnreachable(
                target.label,
                f"the tunnel to port {remote_port} did not open",
                hint=f"see {_record_path(name).with_suffix('.log')}",
            )
        time.sleep(0.05)
    _record_path(name).write_text(
        json.dumps(
            {"pid": proc.pid, "starttime": _starttime(proc.pid), "local_port": local_port, "remote_port": remote_port}
        )
    )
    return local_port


def close_tunnel(name: str, *, forget: bool = False) -> None:
    """End the machine's tunnel (by its recorded PID and start time).

    The local port stays on record so the next tunnel reuses it and the URL the user has
    keeps working; ``forget`` drops the record too (the machine is gone).
    """
    record = _read(name)
    if record and record["pid"] > 0 and _starttime(record["pid"]) == record["starttime"]:
        os.kill(record["pid"], signal.SIGTERM)
    if forget:
        _record_path(name).unlink(missing_ok=True)
        _record_path(name).with_suffix(".log").unlink(missing_ok=True)
    elif record:
        _record_path(name).write_text(json.dumps({**record, "pid": 0, "starttime": None}))
