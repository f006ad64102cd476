"""Every error roost raises on purpose.

One root, so a caller can catch everything roost means with one ``except``::

    RoostError                      anything roost reports on purpose (exit code 1)
    ├── SpecError                   a spec file or value is wrong: names file, line, field
    ├── StateError                  the local state database is unusable or too new
    │   └── LockTimeout             another roost holds this machine's lock for too long
    ├── MachineNotFound             no machine of that name in the state
    ├── BackendError                a backend could not do what was asked
    │   ├── NotBuiltYet             a part of the spec that roost does not build yet
    │   ├── AwsError                an AWS call failed; carries AWS's error code
    │   └── HostError               an SSH host could not be used; names the host
    │       ├── HostUnreachable     no connection (timeout, refused, unknown name)
    │       ├── HostKeyError        its host key is unknown or does not match (security)
    │       └── HostAuthError       the user or key was refused
    ├── CommandFailed               a command on a machine failed; carries its Result
    │   └── CommandTimeout          ... or ran past its timeout
    ├── BackupError                 a backup could not be taken, stored, listed or restored
    ├── AgentError                  the on-machine agent did not answer as expected
    └── AppError                    an app could not be installed or did not become healthy
        └── HealthTimeout           ... it never answered its health check in time

A failure that came from a command carries the command's :class:`~roost.transport.Result`
and shows its output tail, so the user sees why without digging in log files.
"""

from __future__ import annotations

from typing import Protocol


class CommandOutput(Protocol):
    """The shape of a finished command that an error shows (:class:`roost.transport.base.Result`
    has it; errors sit below transport, so they name the shape, not the class)."""

    @property
    def command_text(self) -> str: ...
    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...
    @property
    def duration(self) -> float: ...


class RoostError(Exception):
    """The root of every error roost raises on purpose; its message is for the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class SpecError(RoostError):
    """A spec is invalid. Carries where (file, line, field) and the offending value."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.value = value
        where = file or "<spec>"
        if line is not None:
            where = f"{where}:{line}"
        prefix = f"{where}: "
        if field:
            prefix += f"field '{field}': "
        super().__init__(prefix + message, hint=hint)


class StateError(RoostError):
    """The local state database cannot be used (corrupt, newer schema, unwritable)."""


class LockTimeout(StateError):
    """Another roost process held a machine's lock for longer than we would wait."""


class MachineNotFound(RoostError):
    """No machine with this name is known to roost."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"no machine named '{name}'", hint="run `roost status` to list machines, or `roost up` to create one"
        )
        self.name = name


class BackendError(RoostError):
    """A backend could not carry out a lifecycle step."""


class NotBuiltYet(BackendError):
    """The spec asks for something roost does not build yet; nothing was created."""


class AwsError(BackendError):
    """An AWS call failed; ``code`` is AWS's error code (empty when the call never got an answer)."""

    def __init__(self, message: str, *, code: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class HostError(BackendError):
    """An SSH host could not be used. ``host`` names it; ``step`` says what roost was doing."""

    def __init__(self, host: str, message: str, *, hint: str | None = None, step: str | None = None) -> None:
        self.host = host
        self.step = step
        self.detail = message
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        during = f" during step '{self.step}'" if self.step else ""
        text = f"host {self.host}{during}: {self.detail}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class HostUnreachable(HostError):
    """No SSH connection could be made (timeout, refused, no route, unknown name)."""


class HostKeyError(HostError):
    """The host's key is not the one roost knows or was told: no connection was made."""


class HostAuthError(HostError):
    """The host refused the user or key."""


def _tail(text: str, lines: int = 20) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join("    " + line for line in kept)


class CommandFailed(RoostError):
    """A command on a machine exited non-zero. ``result`` holds everything it printed."""

    def __init__(self, result: CommandOutput, *, what: str | None = None) -> None:
        self.result = result
        title = what or f"command failed: {result.command_text}"
        message = f"{title} (exit code {result.exit_code}, {result.duration:.1f}s)"
        tail = _tail(result.stderr or result.stdout)
        if tail:
            message += "\n  output tail:\n" + tail
        super().__init__(message)


class CommandTimeout(CommandFailed):
    """A command ran past its timeout and was killed; ``result`` holds its partial output."""

    def __init__(self, result: CommandOutput, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(result, what=f"command timed out after {timeout:.0f}s: {result.command_text}")


class BackupError(RoostError):
    """A backup could not be taken, stored, listed, verified or restored; nothing was lost."""


class AgentError(RoostError):
    """The agent on a machine is missing, dead, or answered something unexpected."""


class AppError(RoostError):
    """An app could not be installed, configured or started."""


class HealthTimeout(AppError):
    """An app did not answer its health check within the allowed time."""


class UnsafeName(RoostError):
    """A name that came from a machine, a bucket or a manifest would not stay inside its folder."""
