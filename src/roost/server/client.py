"""The library's verbs through a ``roost server`` (``ROOST_SERVER=URL``, ``ROOST_SERVER_TOKEN``, and
``ROOST_SERVER_CA`` for a server behind a roost gateway: the file `roost trust NAME` prints).

Each method has the signature and the result type of the verb of :mod:`roost` it stands for,
so the CLI calls either without knowing which. A spec file is sent as its text (paths in it
resolve on the server); the token travels in a header only, never in a URL.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from pydantic import TypeAdapter

from roost.agent.client import JobStatus
from roost.backups.store import BackupInfo
from roost.catalog.offers import Offer
from roost.errors import RoostError
from roost.job.common import JobResult
from roost.job.managed import ManagedJob
from roost.lifecycle.housekeeping import MachineCost
from roost.lifecycle.info import MachineStatus
from roost.lifecycle.machines import DownResult, UpResult
from roost.service.status import ServiceStatus
from roost.spec.model import Spec
from roost.transport.base import Result

FOLLOW_SECONDS = 0.5


class ServerError(RoostError):
    """The server refused or failed a request; its message is the server's."""


class RemoteRoost:
    """The verbs of :mod:`roost`, done by the server at ``url`` with its state and credentials."""

    def __init__(self, url: str, token: str, *, ca: str | None = None) -> None:
        if not token:
            raise RoostError(
                "ROOST_SERVER is set but ROOST_SERVER_TOKEN is not",
                hint="set ROOST_SERVER_TOKEN to the token the server printed (never put it in the URL)",
            )
        self.url = url.rstrip("/")
        self.token = token
        # a server behind a roost gateway has a certificate of that machine's CA (`roost trust NAME`)
        self.context = ssl.create_default_context(cafile=ca) if ca else None

    def __getattr__(self, verb: str) -> NoReturn:
        raise RoostError(
            f"`{verb.replace('_', '-')}` does not go through a roost server yet",
            hint="unset ROOST_SERVER to run it with this computer's own state",
        )

    def _call(self, method: str, path: str, body: object = None, *, timeout: float = 3600) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.context) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error") or error.reason
            except ValueError:
                message = error.reason
            raise ServerError(f"the server at {self.url}: {message}") from None
        except OSError as exc:
            raise ServerError(
                f"cannot reach the server at {self.url}: {exc}", hint="is `roost server` running there?"
            ) from None

    @staticmethod
    def _spec_body(target: str | Path | Spec, name: str | None) -> dict[str, object]:
        if isinstance(target, Spec):
            raise RoostError("a Spec object cannot be sent to a server; give its file")
        path = Path(target)
        if str(target).endswith((".yaml", ".yml")) or path.is_file():
            try:
                # its absolute path: a server on this computer resolves the workdir beside it
                return {"spec": path.read_text(), "name": name, "file": str(path.resolve())}
            except OSError as exc:
                raise RoostError(f"cannot read the spec {target}: {exc}") from None
        return {"spec": str(target), "name": name}

    def _m(self, name: str) -> str:
        return "/machines/" + urllib.parse.quote(name, safe="")

    def status(self, name: str | None = None, *, max_age: float = 0.0) -> list[MachineStatus]:
        """``roost.status`` (``max_age`` is the server's business: its monitor keeps it)."""
        if name:
            return [MachineStatus.model_validate(self._call("GET", self._m(name)))]
        return TypeAdapter(list[MachineStatus]).validate_python(self._call("GET", "/machines"))

    def up(self, target: str | Path | Spec, *, name: str | None = None, **_: object) -> UpResult:
        """``roost.up`` (progress is the server's)."""
        return UpResult.model_validate(self._call("POST", "/machines", self._spec_body(target, name)))

    def stop(self, name: str) -> DownResult:
        """``roost.stop``."""
        return DownResult.model_validate(self._call("POST", self._m(name) + "/stop"))

    def start(self, name: str, **_: object) -> UpResult:
        """``roost.start``."""
        return UpResult.model_validate(self._call("POST", self._m(name) + "/start"))

    def down(self, name: str, *, no_backup: bool = False) -> DownResult:
        """``roost.down``."""
        query = "?no_backup=true" if no_backup else ""
        return DownResult.model_validate(self._call("DELETE", self._m(name) + query))

    def jobs(self, name: str) -> list[JobStatus]:
        """``roost.jobs``."""
        return TypeAdapter(list[JobStatus]).validate_python(self._call("GET", self._m(name) + "/jobs"))

    def detach(self, target: str | Path | Spec, *, name: str | None = None, down: bool = False) -> ManagedJob:
        """``roost.detach``: the server sees the job through."""
        body = {**self._spec_body(target, name), "down": down}
        return ManagedJob.model_validate(self._call("POST", "/managed-jobs", body))

    def managed_jobs(self, name: str | None = None) -> list[ManagedJob]:
        """``roost.managed_jobs``."""
        found = TypeAdapter(list[ManagedJob]).validate_python(self._call("GET", "/managed-jobs"))
        return [job for job in found if name is None or job.name == name]

    def cancel(self, name: str, job: str) -> bool:
        """``roost.cancel``."""
        return bool(self._call("POST", f"{self._m(name)}/jobs/{urllib.parse.quote(job)}/cancel")["cancelled"])

    def job_logs(
        self,
        name: str,
        job: str,
        *,
        follow: bool = False,
        offset: int = 0,
        on_output: Callable[[str], None] | None = None,
    ) -> Result:
        """``roost.job_logs``: the output from ``offset``; ``follow`` reads on until the job ends."""
        started, text = time.monotonic(), []
        while True:
            piece = self._call("GET", f"{self._m(name)}/jobs/{urllib.parse.quote(job)}/log?offset={offset}")
            if piece["text"]:
                text.append(piece["text"])
                if on_output:
                    on_output(piece["text"])
            offset = piece["next_offset"]
            if not follow or piece["ended"]:
                break
            time.sleep(FOLLOW_SECONDS)  # the server has no push for this client: read again shortly
        return Result(
            command_text=f"logs {name} {job}",
            exit_code=0,
            stdout="".join(text),
            stderr="",
            duration=time.monotonic() - started,
        )

    def logs(
        self, name: str, *, lines: int = 100, follow: bool = False, on_output: Callable[[str], None] | None = None
    ) -> Result:
        """``roost.logs`` (the last ``lines``; following is not offered through a server)."""
        if follow:
            raise RoostError("`roost logs -f` of an app does not go through a server yet", hint="leave out -f")
        text = self._call("GET", f"{self._m(name)}/log?lines={lines}")["text"]
        if on_output:
            on_output(text)
        return Result(command_text=f"logs {name}", exit_code=0, stdout=text, stderr="", duration=0.0)

    def run(
        self,
        target: str | Path | Spec,
        *,
        name: str | None = None,
        on_output: Callable[[str], None] | None = None,
        **_: object,
    ) -> JobResult:
        """``roost.run`` through the server: submit, then follow the log to the end (outputs stay
        on the server: its ``/outputs`` route downloads them there)."""
        submitted = JobResult.model_validate(self._call("POST", "/jobs", self._spec_body(target, name)))
        self.job_logs(submitted.machine, submitted.job, follow=True, on_output=on_output)
        ended = next(j for j in self.jobs(submitted.machine) if j.id == submitted.job)
        return JobResult(machine=submitted.machine, job=submitted.job, state=ended.state, exit_code=ended.exit_code)

    def cost(self) -> list[MachineCost]:
        """``roost.cost``."""
        return TypeAdapter(list[MachineCost]).validate_python(self._call("GET", "/costs")["machines"])

    def list_backups(self, name: str, **_: object) -> list[BackupInfo]:
        """``roost.list_backups``."""
        return TypeAdapter(list[BackupInfo]).validate_python(self._call("GET", self._m(name) + "/backups"))

    def backup(self, name: str) -> BackupInfo:
        """``roost.backup``."""
        return BackupInfo.model_validate(self._call("POST", self._m(name) + "/backups"))

    def add_user(self, name: str, user: str) -> str:
        """``roost.add_user``: the new user's password."""
        return str(self._call("POST", self._m(name) + "/users", {"user": user})["password"])

    def remove_user(self, name: str, user: str) -> None:
        """``roost.remove_user``."""
        self._call("DELETE", f"{self._m(name)}/users/{urllib.parse.quote(user, safe='')}")

    def serve_status(self, name: str) -> ServiceStatus:
        """``roost.serve_status``."""
        return ServiceStatus.model_validate(self._call("GET", "/services/" + urllib.parse.quote(name, safe="")))

    def offers(self, **query: object) -> list[Offer]:
        """``roost.offers`` (the server's offers: its fetched prices, if any)."""
        wanted = {
            k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items() if v not in (None, False)
        }
        found = self._call("GET", "/offers?" + urllib.parse.urlencode({**wanted, "limit": 200}))
        return TypeAdapter(list[Offer]).validate_python(found)
