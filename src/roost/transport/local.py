"""Run commands on this computer, with the same contract as every other runner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO

from roost.errors import HostUnreachable
from roost.transport.base import Command, Result, command_text


def base_python() -> str:
    """The plain interpreter behind the running one (outside any virtualenv)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _pieces(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream cut after each newline or carriage return, as soon as each arrives (progress
    meters such as rsync's rewrite one line with carriage returns)."""
    pending = b""
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        pending += chunk
        start = 0
        for end in _LINE_END.finditer(pending):
            yield pending[start : end.end()]
            start = end.end()
        pending = pending[start:]
    if pending:
        yield pending


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _pump(stream: IO[bytes], sink: list[str], on_output: Callable[[str], None] | None) -> None:
    for raw in _pieces(stream):
        line = raw.decode("utf-8", errors="replace")
        sink.append(line)
        if on_output is not None:
            on_output(line)
    stream.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The command runs in its own session, so its whole tree shares its PID as group id.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _feed_and_wait(proc: subprocess.Popen[bytes], stdin: bytes | None, timeout: float | None) -> bool:
    """Write ``stdin`` to the process and wait for it; True when it ran past ``timeout`` (its
    whole process group is then killed)."""
    if stdin is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it exited without reading all of it: its exit code says the rest
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        return True
    return False


class LocalRunner:
    """Runs commands here. Each command gets its own session so a timeout ends its tree."""

    label = "this computer"
    is_here = True

    def __init__(self, cwd: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        self.base_env = dict(env or {})
        self.python = base_python()

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
        """Run ``cmd``; see :class:`roost.transport.base.Runner`."""
        full_env = {**os.environ, **self.base_env, **(env or {})}
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        started = time.monotonic()
        proc = self._start(argv, cwd or self.cwd, full_env, piped_stdin=stdin is not None)
        out: list[str] = []
        err: list[str] = []
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, out, on_output), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, None), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        try:
            timed_out = _feed_and_wait(proc, stdin, timeout)
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            for pump in pumps:
                pump.join(timeout=5)
        result = Result(
            command_text=command_text(cmd),
            exit_code=proc.returncode,
            stdout="".join(out),
            stderr="".join(err),
            duration=time.monotonic() - started,
            timed_out=timed_out,
        )
        return result.check(timeout=timeout) if check else result

    def _start(
        self, argv: list[str], folder: str | None, env: dict[str, str], *, piped_stdin: bool
    ) -> subprocess.Popen[bytes]:
        if folder is not None and not os.path.isdir(folder):
            # a machine taken down meanwhile (by another roost) leaves no folder to run in
            raise HostUnreachable(self.label, f"the folder {folder} is gone: was the machine taken down?")
        return subprocess.Popen(
            argv,
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE if piped_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def close(self) -> None:
        """Nothing to let go of: each command is its own process."""

    def write_file(self, path: str, data: bytes, *, mode: int = 0o600) -> None:
        """Write ``data`` to a temporary file beside ``path``, set ``mode``, then rename."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".roost-tmp-")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
