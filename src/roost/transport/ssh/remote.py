"""What a command line on a remote shell is, and what ``ssh``'s exit status 255 means.

Imports nothing beyond the standard library and :mod:`roost.errors`: the CLI's quick
``exec`` uses it without loading the rest of roost.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

UNREACHABLE = re.compile(
    r"Connection timed out|No route to host|Connection refused|Network is unreachable|"
    r"Connection closed by|closed by remote host|Connection reset|Broken pipe|Timeout, server .* not responding|"
    r"kex_exchange_identification|Could not resolve hostname|connect to host .* port|"
    r"mux_client|client_loop|Control socket|lost connection|Connection timed out"
)
KEY_MISMATCH = re.compile(
    r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|"
    r"No .* host key is known"
)
AUTH = re.compile(r"Permission denied \(|Too many authentication failures|Invalid user")
LONG_COMMAND_BYTES = 64 * 1024  # one argv string may hold 128 KiB on Linux; the ssh line adds more


def remote_command(cmd: str | Sequence[str], env: Mapping[str, str] | None, cwd: str | None) -> str:
    """One string for the remote shell: cd, environment, then the command."""
    parts = [f"cd {shlex.quote(cwd)} &&"] if cwd else []
    if env:
        parts.append("env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()))
    parts.append(f"sh -c {shlex.quote(cmd)}" if isinstance(cmd, str) else shlex.join(cmd))
    return " ".join(parts)


def ssh_failure(exit_code: int, stderr: str) -> str | None:
    """Why ssh itself failed: "key", "auth" or "unreachable"; None when the exit status is the
    remote command's own (a command may exit 255 too: then ssh printed none of these)."""
    if exit_code != 255:
        return None
    if KEY_MISMATCH.search(stderr):
        return "key"
    if AUTH.search(stderr):
        return "auth"
    if UNREACHABLE.search(stderr) or not stderr.strip():
        return "unreachable"
    return None
