"""The CLI's quick verbs, answered with the standard library alone: `roost status` from the
watchers' status cache and `roost exec` over the machine's open SSH master connection (or
here, for a local machine).

Loading typer, pydantic and roost's models costs ~0.4 s at every start; these two verbs are
the ones people run in loops and scripts. :func:`run_quick` hands a command to the full CLI
(returns None) whenever it is unsure: a ``ROOST_SERVER`` to ask, no watcher's fresh probe of
every machine, a machine that is not running, an option it does not know. It decides before
it prints or runs anything, so a command never runs twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import IO

from roost.cli.table import STATUS_HEADERS, status_rows, table_lines
from roost.errors import HostAuthError, HostError, HostKeyError, HostUnreachable, RoostError
from roost.machine.peek import Unsure, cached_statuses, machine_row
from roost.paths import roost_home
from roost.transport.ssh.aliases import ALIAS_PREFIX, config_path, has_block
from roost.transport.ssh.remote import LONG_COMMAND_BYTES, remote_command, ssh_failure


def run_quick(argv: Sequence[str]) -> int | None:
    """The exit code of a command answered here, or None: the full CLI must run it."""
    if os.environ.get("ROOST_SERVER") or not argv:
        return None
    verbs = {"status": _status, "exec": _exec}
    if argv[0] not in verbs:
        return None
    try:
        planned = verbs[argv[0]](argv[1:])
    except (
        Unsure,
        RoostError,
        OSError,
        subprocess.SubprocessError,
    ):  # deciding touched nothing: the full CLI decides again
        return None
    try:
        return planned()
    except Unsure:  # raised only where nothing was started
        return None


def _status(args: Sequence[str]) -> Callable[[], int]:
    as_json = "--json" in args
    rest = [arg for arg in args if arg != "--json"]
    if len(rest) > 1 or any(arg.startswith("-") for arg in rest):
        raise Unsure("an option the quick path does not know")
    machines = cached_statuses(roost_home(), rest[0] if rest else None)
    return lambda: _show(machines, as_json)


def _show(machines: list[dict], as_json: bool) -> int:
    if as_json:
        print(json.dumps(machines, indent=1))
    elif not machines:
        print("no machines; `roost up jupyter` makes one")
    else:
        head, *lines = table_lines(STATUS_HEADERS, status_rows(machines))
        bold = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        print(f"\x1b[1m{head}\x1b[0m" if bold else head)
        if lines:
            print("\n".join(lines))
    return 0


def _exec(args: Sequence[str]) -> Callable[[], int]:
    if len(args) < 2 or args[0].startswith("-"):
        raise Unsure("no machine name, or an option first")
    name, command = args[0], list(args[1:])
    if command[0] == "--":
        command = command[1:]
    elif "--help" in command:
        raise Unsure("help is the full CLI's")
    if not command or len(" ".join(command).encode()) > LONG_COMMAND_BYTES:
        raise Unsure("a long command travels on stdin: the full CLI does that")
    machine = machine_row(roost_home(), name)
    if machine.state != "running" or not machine.home:
        raise Unsure("not running: the full CLI says what to do")
    workdir = f"{machine.home}/workdir"
    if machine.backend == "local":
        return lambda: _exec_here(command, workdir)
    if not has_block(name):
        raise Unsure("no ssh config block for the machine (yet)")
    ssh = ["ssh", "-F", str(config_path()), "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
    # only over the master connection roost already opened: a new connection is the full CLI's
    # to make (the block has the host's key and address, not the user's ProxyJump and the like)
    if subprocess.run([*ssh, "-O", "check", "--", ALIAS_PREFIX + name], capture_output=True, timeout=10).returncode:
        raise Unsure("no master connection to ride")
    return lambda: _exec_over_ssh(name, ssh, command, workdir)


def _exec_here(command: list[str], workdir: str) -> int:
    if not os.path.isdir(workdir):
        raise Unsure("the machine's folder is gone")
    try:
        child = _started(command, cwd=workdir)
    except OSError as exc:  # not started: the full CLI reports it as it always has
        raise Unsure(str(exc)) from None
    return child.wait()


def _exec_over_ssh(name: str, ssh: list[str], command: list[str], workdir: str) -> int:
    child = _started([*ssh, "--", ALIAS_PREFIX + name, remote_command(command, None, workdir)], stderr=subprocess.PIPE)
    assert child.stderr is not None
    tail = _relay(child.stderr)
    code = child.wait()
    kind = ssh_failure(code, tail)
    if kind is None:
        return code
    error = _host_error(ALIAS_PREFIX + name, kind, tail)
    sys.stderr.write(f"error: {error}\n")
    return error.exit_code


def _relay(stream: IO[bytes]) -> str:
    """Copy the child's stderr to ours as it comes; the last 8 KiB of it, to tell why ssh failed."""
    kept = b""
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):  # our stderr closed: the command runs on regardless
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        kept = (kept + chunk)[-8192:]
    return kept.decode(errors="replace")


def _started(argv: list[str], **options: object) -> subprocess.Popen[bytes]:
    """The child, started; from here Ctrl-C is the child's alone (it shares our terminal's
    process group and gets the signal): we wait for it and pass on its exit code."""
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **options)  # type: ignore[call-overload]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return child


def _host_error(label: str, kind: str, stderr: str) -> HostError:
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no answer"
    if kind == "key":
        return HostKeyError(
            label,
            "SECURITY WARNING: its host key does not match the one roost recorded; no connection was made",
            hint=f"if the machine was rebuilt, remove its line from {roost_home() / 'known_hosts'} "
            "and connect again with the new fingerprint",
        )
    if kind == "auth":
        return HostAuthError(label, f"refused the login ({last})", hint="check 'user:' and 'key:' in the spec's hosts")
    return HostUnreachable(
        label,
        f"cannot connect ({last})",
        hint="check the network or that the machine is on; `roost status --live` asks every machine now",
    )
