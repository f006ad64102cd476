"""Run commands on a host over one multiplexed OpenSSH connection, with the Runner contract."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping

from roost.errors import HostAuthError, HostKeyError, HostUnreachable
from roost.transport.base import Command, Result
from roost.transport.local import LocalRunner
from roost.transport.ssh.remote import remote_command, ssh_failure
from roost.transport.ssh.target import SshTarget


def classify_failure(target: SshTarget, result: Result) -> None:
    """Raise the HostError an ssh exit 255 means; return when it was the command's own 255."""
    kind = ssh_failure(result.exit_code, result.stderr)
    err = result.stderr
    if kind == "key":
        raise HostKeyError(
            target.label,
            "SECURITY WARNING: its host key does not match the one roost recorded; no connection was made",
            hint=f"if the machine was rebuilt, remove its line from "
            f"{target.known_hosts} and connect again with the new fingerprint",
        )
    if kind == "auth":
        raise HostAuthError(
            target.label,
            f"refused user '{target.user}' with {'key ' + target.key if target.key else 'the default keys'}",
            hint="check 'user:' and 'key:' in the spec's hosts",
        )
    if kind == "unreachable":
        raise HostUnreachable(
            target.label,
            f"cannot connect ({err.strip().splitlines()[-1] if err.strip() else 'no answer'})",
            hint="check the network or that the machine is on; `roost up` resumes when it is back",
        )


def write_script(path: str, size: int, mode: int) -> str:
    """A shell line that writes its stdin to ``path`` with ``mode``, whole or not at all: into a
    temporary file beside it, renamed into place only once it holds ``size`` bytes. (A
    connection lost mid-copy ends cat's input early, and cat still exits 0.)"""
    directory, tmp = os.path.dirname(path), shlex.quote(f"{path}.roost-tmp")
    return (
        f"umask 077 && mkdir -p {shlex.quote(directory)} && cat > {tmp} && "
        f'if [ "$(wc -c < {tmp})" -ne {size} ]; then '
        f'rm -f {tmp}; echo "short copy: the connection ended it" >&2; exit 1; fi && '
        f"chmod {mode:o} {tmp} && mv -f {tmp} {shlex.quote(path)}"
    )


class SshRunner:
    """Commands on one SSH host. The first command opens the master connection; the rest reuse it."""

    is_here = False

    python = "python3"

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self.label = target.label
        self.local = LocalRunner()

    def run(
        self,
        cmd: Command,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bytes | None = None,
        check: bool = True,
        on_output: Callable[[str], None] | None = None,
    ) -> Result:
        """Run ``cmd`` on the host; host failures raise HostError, command failures CommandFailed."""
        argv = [*self.target.ssh_argv(), "--", self.target.label, remote_command(cmd, env, cwd)]
        result = self.local.run(
            argv, stdin=stdin if stdin is not None else b"", timeout=timeout, check=False, on_output=on_output
        )
        try:
            classify_failure(self.target, result)
        except HostUnreachable:
            self.close()  # a master that lost its host must not serve the next command
            raise
        shown = dataclasses.replace(result, command_text=remote_command(cmd, None, cwd))
        return shown.check(timeout=timeout) if check else shown

    def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        """Stream ``data`` into a temporary file beside ``path`` and rename it into place once it
        is whole."""
        script = write_script(path, len(data), mode)
        self.run(script, stdin=data, timeout=120)

    def close(self) -> None:
        """End the master connection (idempotent; never waits on a lost host)."""
        subprocess.run(
            [*self.target.ssh_argv(), "-O", "exit", "--", self.target.label],
            capture_output=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
        )
