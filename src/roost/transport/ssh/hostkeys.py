"""Host keys: roost trusts a host only by a fingerprint it was given, or when told to.

First contact scans the host's keys (``ssh-keyscan``) and records them in roost's own
known_hosts only when one matches the spec's ``host_key`` fingerprint, or when the user
passed ``--accept-new-host-key``. Never silently. Afterwards OpenSSH checks strictly.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from roost.errors import HostKeyError, HostUnreachable
from roost.paths import file_lock
from roost.transport.ssh.target import SshTarget


def is_known(target: SshTarget) -> bool:
    """True when roost's known_hosts has a key for this host."""
    if not os.path.exists(target.known_hosts):
        return False
    found = subprocess.run(
        ["ssh-keygen", "-F", target.known_hosts_name, "-f", target.known_hosts], capture_output=True, text=True
    )
    return found.returncode == 0 and bool(found.stdout.strip())


def scan(target: SshTarget) -> list[tuple[str, str, str]]:
    """The host's offered keys as (known_hosts line, fingerprint, type); HostUnreachable if none."""
    result = subprocess.run(
        [
            "ssh-keyscan",
            "-T",
            str(target.connect_timeout),
            "-p",
            str(target.port),
            "-t",
            "ed25519,ecdsa,rsa",
            "--",
            target.hostname,
        ],
        capture_output=True,
        text=True,
        timeout=target.connect_timeout + 10,
    )
    keys = []
    for line in result.stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        printed = subprocess.run(["ssh-keygen", "-lf", "-"], input=line, capture_output=True, text=True)
        if printed.returncode == 0:
            parts = printed.stdout.split()
            keys.append((line, parts[1], parts[-1].strip("()")))
    if not keys:
        raise HostUnreachable(
            target.label,
            f"no SSH server answered on {target.hostname}:{target.port} within {target.connect_timeout}s",
            hint="check the address, port and network",
        )
    return keys


def _record(target: SshTarget, line: str) -> None:
    known_hosts = Path(target.known_hosts)
    with file_lock(known_hosts):  # an AWS machine's pin rewrites the file meanwhile
        fd = os.open(known_hosts, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(line.rstrip("\n") + "\n")


def ensure_known(target: SshTarget, *, expected: str | None, accept_new: bool) -> str | None:
    """Make sure roost knows the host's key; return the fingerprint recorded now (None if known)."""
    if is_known(target):
        return None
    keys = scan(target)
    offered = ", ".join(f"{fp} ({kind})" for _, fp, kind in keys)
    if expected:
        match = [key for key in keys if key[1] == expected]
        if not match:
            raise HostKeyError(
                target.label,
                f"SECURITY WARNING: the host offers {offered}, not the host_key "
                f"{expected} in the spec. No connection was made.",
                hint="someone may be impersonating the host; check the fingerprint with its owner",
            )
        _record(target, match[0][0])
        return expected
    if not accept_new:
        raise HostKeyError(
            target.label,
            f"roost has never connected to this host; it offers {offered}",
            hint="check that fingerprint with the machine's owner (ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub), then put it in the spec as 'host_key:' "
            "or run again with --accept-new-host-key",
        )
    preferred = next((key for key in keys if key[2] == "ED25519"), keys[0])
    _record(target, preferred[0])
    return preferred[1]
