"""One supervised app: start, reap, restart with backoff, health-check, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from .base import Paths, digest, is_alive, log, probe, proc_identity, read_json, signal_group, write_json_atomic

TICK_FAST = 0.05
TICK_SLOW = 0.5
HEALTHY_RECHECK = 5.0
STABLE_AFTER = 30.0
MAX_BACKOFF = 30.0
SCRUBBED_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


class App:
    """One app the agent keeps running: its definition and its process, if any."""

    def __init__(self, definition: dict, paths: Paths) -> None:
        self.definition = definition
        self.name = definition["name"]
        self.paths = paths
        self.popen: subprocess.Popen | None = None
        self.pid: int | None = None
        self.starttime: int | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.failures = 0
        self.next_start = 0.0
        self.healthy = False
        self.next_health = 0.0
        self.last_exit_code: int | None = None
        self.state = "starting"

    # -- lifecycle

    def adopt(self) -> None:
        """Take over a process a previous agent started, if it still runs."""
        record = read_json(self.paths.app_pid(self.name))
        if record and is_alive(record["pid"], record["starttime"]):
            self.pid, self.starttime = record["pid"], record["starttime"]
            self.started_at = record.get("started_at", time.time())
            self.state = "running"
            log(f"adopted {self.name} pid {self.pid}")

    def spawn(self) -> None:
        d = self.definition
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env.update(d.get("env") or {})
        log_fd = os.open(self.paths.app_log(self.name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(log_fd, f"[roost-agent] starting {self.name} (start #{self.restarts + 1})\n".encode())
        try:
            self.popen = subprocess.Popen(
                d["argv"],
                cwd=d.get("cwd") or None,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            os.write(log_fd, f"[roost-agent] cannot start {self.name}: {exc}\n".encode())
            self.popen = None
            self._exited(127)
            return
        finally:
            os.close(log_fd)
        self.pid = self.popen.pid
        ident = proc_identity(self.pid)
        self.starttime = ident[1] if ident else None
        self.started_at = time.time()
        self.healthy, self.next_health, self.state = False, 0.0, "starting"
        write_json_atomic(
            self.paths.app_pid(self.name), {"pid": self.pid, "starttime": self.starttime, "started_at": self.started_at}
        )
        log(f"started {self.name} pid {self.pid}")

    def _exit_code(self) -> int | bool | None:
        """The exit code if the process ended (None when unknown), False while it runs."""
        if self.popen is not None:
            code = self.popen.poll()
            return False if code is None else code
        if self.pid is not None and is_alive(self.pid, self.starttime):
            return False
        return None

    def _exited(self, code: int | None) -> None:
        ran = time.time() - (self.started_at or time.time())
        self.failures = 1 if ran >= STABLE_AFTER else self.failures + 1
        delay = min(MAX_BACKOFF, 0.5 * 2 ** (self.failures - 1))
        self.last_exit_code = code
        self.restarts += 1
        self.pid = self.popen = self.starttime = None
        self.healthy, self.state = False, "backoff"
        self.next_start = time.time() + delay
        try:
            os.unlink(self.paths.app_pid(self.name))
        except FileNotFoundError:
            pass
        with open(self.paths.app_log(self.name), "a") as handle:
            handle.write(f"[roost-agent] {self.name} exited with code {code}; restarting in {delay:.1f}s\n")
        log(f"{self.name} exited with code {code}; restart in {delay:.1f}s")

    def tick(self, now: float) -> None:
        """Start, reap, restart and health-check this app as needed."""
        if self.pid is None:
            if now >= self.next_start:
                self.spawn()
            return
        code = self._exit_code()
        if code is not False:
            self._exited(code)  # type: ignore[arg-type]
            return
        self._check_health(now)

    def _check_health(self, now: float) -> None:
        port, path = self.definition.get("port"), self.definition.get("health_path")
        if not port or not path:
            self.healthy, self.state = True, "running"
            return
        if now < self.next_health:
            return
        self.healthy = probe(f"http://127.0.0.1:{port}{path}")
        self.state = "running" if self.healthy else ("starting" if self.state == "starting" else "unhealthy")
        self.next_health = now + (HEALTHY_RECHECK if self.healthy else TICK_FAST)

    def stop(self) -> None:
        """End the app's whole process group: SIGTERM, then SIGKILL after its grace time."""
        if self.pid is None:
            return
        grace = float(self.definition.get("stop_timeout", 10))
        signal_group(self.pid, signal.SIGINT if self.definition.get("stop_signal") == "INT" else signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and self._exit_code() is False:
            time.sleep(0.05)
        signal_group(self.pid, signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()
        log(f"stopped {self.name}")
        self.pid = self.popen = self.starttime = None
        self.healthy, self.state = False, "stopped"
        try:
            os.unlink(self.paths.app_pid(self.name))
        except FileNotFoundError:
            pass

    def status(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "healthy": self.healthy,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "started_at": self.started_at,
            "port": self.definition.get("port"),
            "digest": digest(self.definition),
        }
