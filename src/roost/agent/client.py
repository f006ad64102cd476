"""Talk to the agent on a machine through any Runner: install it, start, stop, ask status."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import socket
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from roost.errors import AgentError, HealthTimeout
from roost.transport.base import Result, Runner

AGENT_PACKAGE = Path(__file__).with_name("roost_agent")
"""The agent's source: a stdlib-only package."""
ARCHIVE_MAIN = """\
import os, sys
os.umask(0o077)
# The archive carries bytecode for the Python that built it ({tag}), which imports straight
# from it. Any other compiles a zip's modules at every start (~30 ms a command), so for it the
# package is unpacked once beside the archive, where it keeps its bytecode cache.
lib = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "lib-{digest}")
if sys.implementation.cache_tag != "{tag}" and not os.path.isdir(lib):
    import shutil, zipfile
    partial = "%s.%d.partial" % (lib, os.getpid())
    try:
        with zipfile.ZipFile(sys.argv[0]) as archive:
            names = [n for n in archive.namelist() if n.startswith("roost_agent/") and n.endswith(".py")]
            archive.extractall(partial, names)
        os.rename(partial, lib)
        for old in os.listdir(os.path.dirname(lib)):  # an older agent's: its daemon has what it imports
            if old.startswith("lib-") and old != os.path.basename(lib):
                shutil.rmtree(os.path.join(os.path.dirname(lib), old), ignore_errors=True)
    except OSError:  # another start unpacked it first, or the folder is read-only
        shutil.rmtree(partial, ignore_errors=True)
if sys.implementation.cache_tag != "{tag}" and os.path.isdir(lib):
    sys.path.insert(0, lib)
from roost_agent.commands import main
sys.exit(main())
"""


@functools.cache
def agent_archive() -> bytes:
    """The agent as shipped: one zip file that ``python3`` runs. It holds the sources and their
    bytecode for the Python roost runs on: a machine with that Python (same ``cache_tag``) imports
    it straight from the zip and compiles nothing; any other unpacks the sources once into
    ``lib-DIGEST`` beside it (DIGEST: of the sources) so later runs import cached bytecode, and a
    new agent unpacks anew and removes the older copies."""
    return build_archive(sys.implementation.cache_tag)


def build_archive(cache_tag: str) -> bytes:
    """The agent's archive for a Python whose ``cache_tag`` is given (bytecode only for ours)."""
    sources = [(f"roost_agent/{path.name}", path.read_bytes()) for path in sorted(AGENT_PACKAGE.glob("*.py"))]
    digest = hashlib.sha256(b"".join(name.encode() + b"\0" + data for name, data in sources)).hexdigest()[:16]
    entries = [("__main__.py", ARCHIVE_MAIN.format(digest=digest, tag=cache_tag).encode())]
    for name, data in sources:
        entries.append((name, data))
        if cache_tag == sys.implementation.cache_tag:
            entries.append((name + "c", _bytecode(name, data)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _bytecode(name: str, source: bytes) -> bytes:
    """A ``.pyc`` of ``source`` that no import checks against a timestamp (PEP 552, unchecked
    hash: a zip's times say nothing), which zipimport loads in place of compiling."""
    import importlib.util
    import marshal

    code = compile(source, name, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little") + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


class AppStatus(BaseModel):
    """What the agent reports about one app."""

    name: str
    state: str
    pid: int | None = None
    healthy: bool = False
    restarts: int = 0
    last_exit_code: int | None = None
    started_at: float | None = None
    port: int | None = None
    digest: str | None = None
    """The fingerprint of the definition it runs."""


class AgentInfo(BaseModel):
    """The agent process itself."""

    state: str
    pid: int | None = None
    started_at: float | None = None
    reason: str | None = None
    autostop_seconds: float | None = None
    gpus: list[str] = Field(default_factory=list)


class JobStatus(BaseModel):
    """One job as the agent records it; its id is the agent's counter (digits only), so it is
    safe as a folder name (``roost-outputs/ID``)."""

    id: str = Field(pattern=r"^[0-9]{1,12}$")
    state: str
    command: str | None = None
    exit_code: int | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    gpu_ids: list[str] = Field(default_factory=list)
    reason: str | None = None

    @property
    def ended(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self.state in ("succeeded", "failed", "cancelled")


class JobRequest(BaseModel):
    """A job to queue: a shell command, its environment, directory and slots."""

    command: str
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, repr=False)
    cwd: str | None = None
    cpus: int = 1
    gpus: int = 0


class ScheduleStatus(BaseModel):
    """A command the agent runs on a schedule (scheduled backups): how its runs went."""

    runs: int = 0
    last_started: float | None = None
    last_exit_code: int | None = None
    next_run: float | None = None
    running: bool = False


class AgentEvent(BaseModel):
    """Something the agent did by itself (autostopped, a budget warning or its cap)."""

    at: float
    kind: str
    message: str
    notified: bool = False


class Meter(BaseModel):
    """The machine's running time as its agent counted it, and its spend at the budget's price."""

    seconds: float = 0.0
    spent_usd: float | None = None
    max_usd: float | None = None
    events: list[AgentEvent] = Field(default_factory=list)


class AgentStatus(BaseModel):
    """The agent's whole answer to ``status``."""

    agent: AgentInfo = Field(default_factory=lambda: AgentInfo(state="stopped"))
    apps: dict[str, AppStatus] = Field(default_factory=dict)
    schedules: dict[str, ScheduleStatus] = Field(default_factory=dict)
    meter: Meter = Field(default_factory=Meter)
    interruption: dict[str, object] | None = None
    """EC2's spot interruption notice as the agent saw it (action, time, seen_at), if any."""
    last_activity: float | None = None

    @property
    def running(self) -> bool:
        """True when the agent process is alive."""
        return self.agent.state == "running"


class AppDefinition(BaseModel):
    """How the agent starts one app: the contract between roost and its agent."""

    name: str
    argv: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    port: int | None = None
    health_path: str | None = None
    stop_timeout: float = 10.0
    stop_signal: Literal["TERM", "INT"] = "TERM"
    """The signal that asks it to end (PostgreSQL's fast, clean shutdown is INT)."""
    start_order: int = 0
    """Lower starts first and stops last (a database before the app that uses it)."""


class AgentClient:
    """Drives the agent at ``home`` on the machine behind ``runner``.

    Every method is idempotent: installing twice writes once, starting a running agent
    does nothing, stopping a stopped one does nothing.
    """

    def __init__(self, runner: Runner, home: str) -> None:
        self.runner = runner
        self.home = home
        self.path = f"{home}/agent/roost_agent.pyz"

    def _argv(self, *args: str) -> list[str]:
        # -I -S: the agent is stdlib-only, so skip site-packages (and ~25 ms of start-up)
        return [self.runner.python, "-I", "-S", self.path, "--home", self.home, *args]

    def command(self, *args: str) -> list[str]:
        """The argv that runs one of the agent's commands on the machine (e.g. the controller)."""
        return self._argv(*args)

    def _call(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> Result:
        return self.runner.run(self._argv(*args), stdin=stdin, timeout=timeout, check=False)

    # commands that change nothing twice: a reply lost on the way is asked for again, once
    IDEMPOTENT = frozenset({"start", "stop", "status", "put-app", "put-config", "cancel", "wait", "jobs"})

    def _ask(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> Result:
        """The command's result; an idempotent one that came back empty is asked again, and after
        a second empty answer on a fresh connection (a host cut and healed leaves a stale one)."""
        result = self._call(*args, stdin=stdin, timeout=timeout)
        for attempt in range(2):
            if not (result.ok and not result.stdout.strip() and args[0] in self.IDEMPOTENT):
                break
            if attempt:
                self.runner.close()
            result = self._call(*args, stdin=stdin, timeout=timeout)
        return result

    def _json(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> dict:
        return self._parse(args[0], self._ask(*args, stdin=stdin, timeout=timeout))

    @staticmethod
    def _parse(what: str, result: Result) -> dict:
        try:
            data = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AgentError(
                f"the agent gave no answer to '{what}' (exit code {result.exit_code})\n"
                f"  output tail:\n    {(result.stderr or result.stdout)[-800:]}"
            ) from None
        if not result.ok or "error" in data:
            raise AgentError(f"agent '{what}' failed: {data.get('error', result.stderr[-800:])}")
        return data

    def install(self) -> None:
        """Copy the agent program onto the machine (atomically, mode 0700)."""
        self.runner.write_file(self.path, agent_archive(), mode=0o700)

    def start(self, config: Mapping[str, object] | None = None) -> int:
        """Start the agent unless it runs; return its PID. ``config`` (autostop, budget,
        notify...) is merged into the agent's settings first, in the same call."""
        if config is None:
            return int(self._json("start")["pid"])
        return int(self._json("start", "--config", stdin=json.dumps(dict(config)).encode())["pid"])

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every app and the agent; kills leftovers of an agent that died."""
        self._json("stop", "--timeout", str(timeout), timeout=timeout + 30)

    def status(self) -> AgentStatus:
        """The agent's status; a machine without a running agent reports state 'stopped'."""
        result = self._ask("status")
        if result.exit_code == 2 and "No such file" in result.stderr:
            return AgentStatus()  # never installed: nothing runs
        try:
            return AgentStatus.model_validate(self._parse("status", result))
        except ValidationError as exc:
            raise AgentError(f"the agent's status did not parse: {exc}") from None

    def put_app(self, definition: AppDefinition) -> str:
        """Register or update an app; returns the definition's digest (``wait_healthy`` waits for it)."""
        payload = definition.model_dump_json().encode()
        return str(self._json("put-app", stdin=payload)["digest"])

    def remove_app(self, name: str) -> bool:
        """Stop and forget an app; True when it was registered."""
        return bool(self._json("remove-app", name).get("removed"))

    def free_port(self) -> int:
        """A TCP port free on the machine's 127.0.0.1 right now."""
        if self.runner.is_here:  # this computer: no program to start for it
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                return int(sock.getsockname()[1])
        return int(self._call("freeport").check("find a free port").stdout.strip())

    def logs(
        self, app: str, *, lines: int = 100, follow: bool = False, on_output: Callable[[str], None] | None = None
    ) -> Result:
        """Print (or follow) an app's log through ``on_output``."""
        args = ["logs", app, "--lines", str(lines)] + (["--follow"] if follow else [])
        return self.runner.run(self._argv(*args), check=False, on_output=on_output)

    def submit_job(self, request: JobRequest) -> str:
        """Queue a job; its id. Secrets travel on stdin and are deleted on the machine at start."""
        job_id = str(self._json("submit-job", stdin=request.model_dump_json().encode())["id"])
        if not job_id.isascii() or not job_id.isdigit():
            raise AgentError(f"the agent answered a job id that is not a number: {job_id!r}")
        return job_id

    def jobs(self) -> list[JobStatus]:
        """Every job on the machine, oldest first."""
        result = self._call("jobs")
        try:
            return [JobStatus.model_validate(job) for job in json.loads(result.check("list jobs").stdout)]
        except (ValueError, ValidationError) as exc:
            raise AgentError(f"the agent's job list did not parse: {exc}") from None

    def job(self, job_id: str) -> JobStatus:
        """One job's status."""
        for job in self.jobs():
            if job.id == job_id:
                return job
        raise AgentError(f"no job {job_id} on this machine", hint="`roost jobs NAME` lists them")

    def job_logs(
        self, job_id: str, *, offset: int = 0, follow: bool = False, on_output: Callable[[str], None] | None = None
    ) -> Result:
        """A job's output from byte ``offset``; with ``follow``, until the job ends."""
        args = ["job-logs", job_id, "--offset", str(offset)] + (["--follow"] if follow else [])
        return self.runner.run(self._argv(*args), check=False, on_output=on_output)

    def cancel(self, job_id: str) -> bool:
        """Cancel a job; True when it was still queued or running."""
        return bool(self._json("cancel", job_id).get("cancelled"))

    def put_config(self, **settings: object) -> None:
        """Merge settings (e.g. autostop_seconds) into the agent's config."""
        self._json("put-config", stdin=json.dumps(settings).encode())

    def wait_all_healthy(self, digests: dict[str, str], within: float, *, log_hint: Callable[[str], str]) -> None:
        """Wait until every app of ``digests`` (name -> definition digest) is healthy, all within
        ``within`` seconds (each app gets at least one); ``log_hint(name)`` for the one that is not."""
        deadline = time.monotonic() + within
        for name, digest in digests.items():
            self.wait_healthy(name, max(1.0, deadline - time.monotonic()), digest=digest, log_hint=log_hint(name))

    def wait_healthy(self, app: str, timeout: float, log_hint: str = "", digest: str = "") -> AppStatus:
        """Wait (on the machine, one call) until ``app`` is healthy, running the definition with
        ``digest`` when given (so a just-changed app is not reported by its old process)."""
        result = self._call("wait", app, "--timeout", str(timeout), "--digest", digest, timeout=timeout + 30)
        return self._healthy(app, timeout, result, log_hint)

    def start_app(self, definition: AppDefinition, timeout: float, log_hint: str = "") -> AppStatus:
        """Register or update an app and wait until that definition runs healthy: one call on
        the machine (``put_app`` then ``wait_healthy``, without a second process and round trip)."""
        payload = definition.model_dump_json().encode()
        result = self._ask("put-app", "--wait", str(timeout), stdin=payload, timeout=timeout + 30)
        return self._healthy(definition.name, timeout, result, log_hint)

    def _healthy(self, app: str, timeout: float, result: Result, log_hint: str) -> AppStatus:
        """The app's status from a wait's answer; HealthTimeout with its log tail when it timed out."""
        if result.ok:
            return AppStatus.model_validate(self._parse("wait", result))
        if result.exit_code != 4:
            self._parse("wait", result)  # raises AgentError with the agent's words
        tail = self.logs(app, lines=20).stdout
        raise HealthTimeout(
            f"app '{app}' was not healthy after {timeout:.0f}s\n  log tail:\n"
            + "\n".join("    " + line for line in tail.splitlines()),
            hint=log_hint or None,
        )
