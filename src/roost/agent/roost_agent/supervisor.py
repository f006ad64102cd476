"""The daemon: keeps every registered app running and writes status.json."""

from __future__ import annotations

import os
import signal
import time

from . import VERSION
from .app import TICK_FAST, TICK_SLOW, App
from .base import Paths, established_ports, log, proc_identity, read_json, rotate, write_json_atomic
from .jobs import JobQueue
from .schedule import Schedules
from .spot import SpotWatch
from .watch import Watch


def interactive_ssh_sessions() -> int:
    """How many interactive SSH logins are open (``sshd: user@pts/N``); roost's own are notty."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    cmdline = handle.read()
            except OSError:
                continue
            if cmdline.startswith(b"sshd") and b"@pts/" in cmdline:
                count += 1
    return count


class Supervisor:
    """The daemon: keeps every registered app running and writes status.json."""

    def __init__(self, paths: Paths, max_log_bytes: int, keep_logs: int) -> None:
        self.paths = paths
        self.max_log_bytes = max_log_bytes
        self.keep_logs = keep_logs
        self.apps: dict[str, App] = {}
        self.stopping = False
        self.started_at = time.time()
        self.last_activity = self.started_at
        self.apps_stamp = -1
        self.jobs_stamp = -1
        self.jobs = JobQueue(paths)
        self.schedules = Schedules(paths)
        self.watch = Watch(paths)
        self.spot = SpotWatch()
        self.stop_reason: str | None = None
        self.pid_record = {"pid": os.getpid(), "starttime": proc_identity(os.getpid())[1]}

    def definitions_changed(self) -> bool:
        """True when the apps directory changed since the last look (one stat call)."""
        stamp = os.stat(self.paths.apps).st_mtime_ns
        changed, self.apps_stamp = stamp != self.apps_stamp, stamp
        return changed

    def load_definitions(self) -> None:
        """Start newly registered apps, restart changed ones, stop removed ones."""
        wanted: dict[str, dict] = {}
        for entry in sorted(os.listdir(self.paths.apps)):
            if entry.endswith(".json"):
                definition = read_json(os.path.join(self.paths.apps, entry))
                if definition and definition.get("name") == entry[:-5]:
                    wanted[definition["name"]] = definition
        for name in list(self.apps):
            if name not in wanted:
                self.apps.pop(name).stop()
        for name, definition in sorted(wanted.items(), key=lambda item: item[1].get("start_order", 0)):
            current = self.apps.get(name)
            if current is not None and current.definition == definition:
                continue
            if current is not None:
                log(f"definition of {name} changed; restarting it")
                current.stop()
            app = App(definition, self.paths)
            if current is None:
                app.adopt()
            self.apps[name] = app

    def in_stop_order(self) -> list[App]:
        """Apps that start last stop first (the app before its database)."""
        return sorted(self.apps.values(), key=lambda app: -app.definition.get("start_order", 0))

    def autostop_seconds(self) -> float | None:
        """The idle time after which the machine stops itself (agent/config.json), if any."""
        config = read_json(self.paths.config_file) or {}
        return config.get("autostop_seconds")

    def status(self, state: str = "running") -> dict:
        config = read_json(self.paths.config_file) or {}
        return {
            "version": VERSION,
            "agent": {
                **self.pid_record,
                "state": state,
                "started_at": self.started_at,
                "reason": self.stop_reason,
                "autostop_seconds": self.autostop_seconds(),
                "gpus": self.jobs.gpus,
            },
            "apps": {name: app.status() for name, app in self.apps.items()},
            "schedules": self.schedules.status(),
            "meter": self.watch.status(config),
            "interruption": self.spot.notice,
            "last_activity": self.last_activity,
            "updated_at": time.time(),
        }

    def app_moments(self) -> list[tuple]:
        """What a status reader waits on: each app's state, process, health and restarts."""
        return [(app.state, app.pid, app.healthy, app.restarts) for app in self.apps.values()]

    def housekeeping(self, now: float) -> None:
        ports = {app.definition.get("port") for app in self.apps.values()} - {None}
        if ports & established_ports() or self.jobs.busy() or interactive_ssh_sessions():
            self.last_activity = now
        config = read_json(self.paths.config_file) or {}
        self.last_activity = max(self.last_activity, config.get("autostop_set_at") or 0.0)
        idle_limit = config.get("autostop_seconds")
        if idle_limit is not None and now - self.last_activity > idle_limit and not self.stopping:
            log(f"idle for {now - self.last_activity:.0f}s (autostop after {idle_limit:.0f}s): stopping")
            self.stop_reason, self.stopping = "autostop", True
            self.watch.event("autostopped", f"idle for {now - self.last_activity:.0f}s; stopping")
        if self.watch.tick(now, config) and not self.stopping:
            self.stop_reason, self.stopping = "budget", True
        self.on_interruption(self.spot.tick(now, config.get("interruption")))
        self.schedules.tick(now)
        for name in self.apps:
            if rotate(self.paths.app_log(name), self.max_log_bytes, self.keep_logs):
                log(f"rotated log of {name}")

    def on_interruption(self, notice: dict | None) -> None:
        """EC2 will reclaim this spot machine: signal the jobs (they save a checkpoint), say so."""
        if notice is None:
            return
        number = self.spot.signal_number(notice["signal"])
        sent = self.jobs.signal_all(number) if number is not None else 0
        self.watch.event(
            "spot interruption",
            f"EC2 will {notice.get('action', 'reclaim')} this instance at {notice.get('time', '?')}; "
            + (f"sent {notice['signal']} to {sent} job(s)" if number is not None else "jobs left running"),
        )

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        write_json_atomic(self.paths.pid_file, self.pid_record)
        log(f"agent {VERSION} running as pid {os.getpid()}")
        next_full = 0.0
        while not self.stopping:
            now = time.time()
            changed = self.definitions_changed()
            jobs_stamp = os.stat(self.paths.jobs).st_mtime_ns
            # a new job renames its directory into jobs/ (the stamp moves); the full round
            # every TICK_SLOW catches what a coarse clock could hide
            if jobs_stamp != self.jobs_stamp or self.jobs.running or now >= next_full:
                self.jobs_stamp = jobs_stamp
                self.jobs.tick()
            busy = any(app.state != "running" for app in self.apps.values())
            if changed or now >= next_full:  # the full round: apps, housekeeping, the status file
                if changed:
                    self.load_definitions()
                for app in self.apps.values():
                    app.tick(now)
                self.housekeeping(now)
                write_json_atomic(self.paths.status_file, self.status())
                next_full = now + TICK_SLOW
            elif busy:
                # an app starting or failing: started, reaped and probed every TICK_FAST, and the
                # status file written the moment it moves (a `wait` sees it at once); housekeeping
                # stays at TICK_SLOW, so the agent does not take CPU from the app's own start
                before = self.app_moments()
                for app in self.apps.values():
                    app.tick(now)
                if self.app_moments() != before:
                    write_json_atomic(self.paths.status_file, self.status())
            time.sleep(TICK_FAST)
        self.schedules.stop()
        for app in self.in_stop_order():
            app.stop()
        self.jobs.stop_all()
        write_json_atomic(self.paths.status_file, self.status("stopped"))
        os.unlink(self.paths.pid_file)
        log("agent stopped")
        if self.stop_reason in ("autostop", "budget"):
            self.power_off()
        return 0

    def power_off(self) -> None:
        """After an autostop or at the budget's cap, power the machine off when roost set a command for it (a cloud
        machine: the provider then stops or terminates it, with no credentials on the machine)."""
        command = (read_json(self.paths.config_file) or {}).get("poweroff_command")
        if not command:
            return
        import subprocess

        log(f"powering off: {command}")
        result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=120)
        log(f"power-off command exited {result.returncode}: {(result.stdout + result.stderr).strip()[-300:]}")

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
