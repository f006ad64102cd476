"""Commands the agent runs on a schedule (Label Studio's backups), one at a time each.

They come from config.json's ``schedules``: ``{name: {"argv": [...], "every_seconds": N}}``.
The first run is one interval after the schedule is first seen; a run still going when
the next is due is not doubled. Outcomes go to status.json and logs/schedule-NAME.log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from .base import Paths, log, read_json, signal_group


class Scheduled:
    """One schedule's state: its definition, the process running now, the last outcome."""

    def __init__(self, name: str, definition: dict, now: float) -> None:
        self.name = name
        self.definition = definition
        self.next_run = now + float(definition["every_seconds"])
        self.popen: subprocess.Popen | None = None
        self.last_started: float | None = None
        self.last_exit_code: int | None = None
        self.runs = 0

    def tick(self, paths: Paths, now: float) -> None:
        """Reap a finished run; start the next when it is due."""
        if self.popen is not None:
            code = self.popen.poll()
            if code is None:
                return
            self.popen, self.last_exit_code = None, code
            log(f"scheduled {self.name} exited with code {code}")
        if now < self.next_run:
            return
        log_fd = os.open(paths.app_log(f"schedule-{self.name}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(log_fd, f"[roost-agent] {time.strftime('%Y-%m-%dT%H:%M:%S')} running {self.name}\n".encode())
        try:
            self.popen = subprocess.Popen(
                self.definition["argv"],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            os.write(log_fd, f"[roost-agent] cannot run {self.name}: {exc}\n".encode())
            self.last_exit_code = 127
        finally:
            os.close(log_fd)
        self.runs += 1
        self.last_started = now
        self.next_run = now + float(self.definition["every_seconds"])

    def stop(self, grace: float = 15.0) -> None:
        """Let a run in progress finish (a backup half-taken is worthless), then end it."""
        if self.popen is None:
            return
        deadline = time.time() + grace
        while time.time() < deadline and self.popen.poll() is None:
            time.sleep(0.1)
        if self.popen.poll() is None:
            signal_group(self.popen.pid, signal.SIGTERM)
            self.popen.wait()
        self.popen = None

    def status(self) -> dict:
        return {
            "runs": self.runs,
            "last_started": self.last_started,
            "last_exit_code": self.last_exit_code,
            "next_run": self.next_run,
            "running": self.popen is not None,
        }


class Schedules:
    """Every schedule in the agent's config, kept in step with it."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.entries: dict[str, Scheduled] = {}

    def tick(self, now: float) -> None:
        """Follow config changes (a changed definition starts its interval afresh), then run what is due."""
        wanted = (read_json(self.paths.config_file) or {}).get("schedules") or {}
        for name in list(self.entries):
            if wanted.get(name) != self.entries[name].definition:
                self.entries.pop(name).stop()
        for name, definition in wanted.items():
            if name not in self.entries:
                self.entries[name] = Scheduled(name, definition, now)
            self.entries[name].tick(self.paths, now)

    def stop(self) -> None:
        """End with the agent: a run in progress is given time to finish."""
        for entry in self.entries.values():
            entry.stop()

    def status(self) -> dict:
        return {name: entry.status() for name, entry in self.entries.items()}
