"""The one way roost runs commands on a machine, and the one result type it gets back."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from roost.errors import CommandFailed, CommandTimeout

Command = str | Sequence[str]
"""A shell string (run with ``sh -c``) or an argv list (run as is, no shell)."""


def command_text(cmd: Command) -> str:
    """Render a command for messages: argv lists are shell-quoted."""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


@dataclass(frozen=True)
class Result:
    """What a finished command printed and how it ended. Every runner returns this."""

    command_text: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    """True when the command ran past its timeout and was killed (``exit_code`` is then the signal's)."""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def check(self, what: str | None = None, *, timeout: float | None = None) -> Result:
        """Return self when ok; raise :class:`CommandTimeout` (when it timed out) or
        :class:`CommandFailed` carrying self otherwise."""
        if self.timed_out:
            raise CommandTimeout(self, timeout or 0.0)
        if not self.ok:
            raise CommandFailed(self, what=what)
        return self


@runtime_checkable
class Runner(Protocol):
    """Runs commands on one machine. Local and SSH runners honour the same contract.

    ``run`` waits for the command and returns a :class:`Result`; with ``check=True`` (the
    default) a non-zero exit raises :class:`CommandFailed` and a timeout raises
    :class:`CommandTimeout`, both carrying the Result. ``on_output`` receives stdout as it
    arrives (for live logs). ``python`` is the interpreter the machine runs the agent with.
    """

    python: str
    label: str
    """The machine as messages name it (an SSH host's label; a HostError's ``host``)."""
    is_here: bool
    """True when the machine is this computer (its 127.0.0.1 is ours: a free port can be found
    in this process, without starting a program)."""

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
    ) -> Result: ...

    def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        """Atomically replace ``path`` on the machine with ``data`` (a reader never sees half)."""
        ...

    def close(self) -> None:
        """Let go of the connection to the machine (a new one opens on the next command);
        idempotent, and never waits on a lost machine."""
        ...
