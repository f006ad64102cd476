#!/usr/bin/env python3
"""roost agent: the program roost runs ON a machine. Standard library only.

It is copied to the machine as this one file and run with ``python3``. It supervises the
apps registered with it (restart on crash with exponential backoff), rotates their logs,
answers ``status`` as JSON and records the last time anyone used an app (for autostop).

    python3 roost_agent.py --home DIR start          start the supervisor (idempotent)
    python3 roost_agent.py --home DIR stop           stop it and every app it runs
    python3 roost_agent.py --home DIR status         JSON: agent and apps
    python3 roost_agent.py --home DIR put-app        register an app (JSON on stdin)
    python3 roost_agent.py --home DIR remove-app N   unregister an app (stops it)
    python3 roost_agent.py --home DIR wait N [--timeout S]   until app N is healthy
    python3 roost_agent.py --home DIR logs N [-n K] [-f]
    python3 roost_agent.py --home DIR freeport       a free TCP port on 127.0.0.1

Everything lives under DIR: ``agent/`` (pid, lock, status.json, app definitions, app pid
files) and ``logs/`` (one log per app). Processes are only ever signalled by a PID that
this agent recorded together with the process start time, so a reused PID is never hit.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

VERSION = "1"
TICK_FAST = 0.05
TICK_SLOW = 0.5
HEALTHY_RECHECK = 5.0
STABLE_AFTER = 30.0
MAX_BACKOFF = 30.0
SCRUBBED_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


class Paths:
    """Where the agent keeps its files under one home directory."""

    def __init__(self, home: str) -> None:
        self.home = os.path.abspath(home)
        self.agent = os.path.join(self.home, "agent")
        self.apps = os.path.join(self.agent, "apps")
        self.run = os.path.join(self.agent, "run")
        self.logs = os.path.join(self.home, "logs")
        self.pid_file = os.path.join(self.agent, "agent.pid")
        self.daemon_lock = os.path.join(self.agent, "daemon.lock")
        self.start_lock = os.path.join(self.agent, "start.lock")
        self.status_file = os.path.join(self.agent, "status.json")
        self.agent_log = os.path.join(self.agent, "agent.log")

    def ensure(self) -> None:
        for path in (self.agent, self.apps, self.run, self.logs):
            os.makedirs(path, mode=0o700, exist_ok=True)

    def app_log(self, name: str) -> str:
        return os.path.join(self.logs, name + ".log")

    def app_pid(self, name: str) -> str:
        return os.path.join(self.run, name + ".pid")


# ---------------------------------------------------------------- process identity


def proc_identity(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def is_alive(pid: int, starttime: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started at ``starttime``."""
    ident = proc_identity(pid)
    if ident is None or ident[0] in ("Z", "X"):
        return False
    return starttime is None or ident[1] == starttime


def write_json_atomic(path: str, data: object) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} {message}", flush=True)


# ---------------------------------------------------------------- one supervised app


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
                d["argv"], cwd=d.get("cwd") or None, env=env, stdin=subprocess.DEVNULL,
                stdout=log_fd, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
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
        write_json_atomic(self.paths.app_pid(self.name),
                          {"pid": self.pid, "starttime": self.starttime, "started_at": self.started_at})
        log(f"started {self.name} pid {self.pid}")

    def _exit_code(self) -> int | None | bool:
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
        signal_group(self.pid, signal.SIGTERM)
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
            "name": self.name, "state": self.state, "pid": self.pid, "healthy": self.healthy,
            "restarts": self.restarts, "last_exit_code": self.last_exit_code,
            "started_at": self.started_at, "port": self.definition.get("port"),
        }


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (apps run in their own session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def probe(url: str) -> bool:
    """True when ``url`` answers 2xx/3xx within a second."""
    import urllib.error  # only the daemon probes; keeps the other commands quick to start
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def established_ports() -> set[int]:
    """Local ports with an established TCP connection (from /proc/net/tcp and tcp6)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "01":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def rotate(path: str, max_bytes: int, keep: int) -> bool:
    """Copy-and-truncate ``path`` once it passes ``max_bytes``; keep ``keep`` old copies."""
    try:
        if os.path.getsize(path) <= max_bytes:
            return False
    except OSError:
        return False
    for index in range(keep - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")
    with open(path, "rb") as src, open(f"{path}.1", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.truncate(path, 0)  # writers use O_APPEND, so they continue at the new end
    return True


# ---------------------------------------------------------------- the supervisor


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
        for name, definition in wanted.items():
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

    def status(self, state: str = "running") -> dict:
        return {
            "version": VERSION,
            "agent": {**self.pid_record, "state": state, "started_at": self.started_at},
            "apps": {name: app.status() for name, app in self.apps.items()},
            "last_activity": self.last_activity,
            "updated_at": time.time(),
        }

    def housekeeping(self, now: float) -> None:
        ports = {app.definition.get("port") for app in self.apps.values()} - {None}
        if ports & established_ports():
            self.last_activity = now
        for name in self.apps:
            if rotate(self.paths.app_log(name), self.max_log_bytes, self.keep_logs):
                log(f"rotated log of {name}")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        write_json_atomic(self.paths.pid_file, self.pid_record)
        log(f"agent {VERSION} running as pid {os.getpid()}")
        next_full = 0.0
        while not self.stopping:
            now = time.time()
            changed = self.definitions_changed()
            busy = any(app.state != "running" for app in self.apps.values())
            # a quick look every TICK_FAST; the full round when something may have moved
            if changed or busy or now >= next_full:
                if changed:
                    self.load_definitions()
                for app in self.apps.values():
                    app.tick(now)
                self.housekeeping(now)
                write_json_atomic(self.paths.status_file, self.status())
                next_full = now + TICK_SLOW
            time.sleep(TICK_FAST)
        for app in self.apps.values():
            app.stop()
        write_json_atomic(self.paths.status_file, self.status("stopped"))
        os.unlink(self.paths.pid_file)
        log("agent stopped")
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True


# ---------------------------------------------------------------- commands


def running_agent(paths: Paths) -> dict | None:
    """The pid record of the live agent for this home, or None."""
    record = read_json(paths.pid_file)
    if record and is_alive(record["pid"], record.get("starttime")):
        return record
    return None


def cmd_daemon(paths: Paths, args: argparse.Namespace) -> int:
    lock = open(paths.daemon_lock, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another agent already runs for this home")
        return 0
    return Supervisor(paths, args.max_log_bytes, args.keep_logs).run()


def cmd_start(paths: Paths, args: argparse.Namespace) -> int:
    with open(paths.start_lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = running_agent(paths)
        if record is None:
            argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), "--home", paths.home,
                    "--max-log-bytes", str(args.max_log_bytes), "--keep-logs", str(args.keep_logs), "daemon"]
            log_fd = os.open(paths.agent_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd,
                                     start_new_session=True, close_fds=True, cwd=paths.home)
            os.close(log_fd)
            deadline = time.time() + 10
            while time.time() < deadline:
                record = running_agent(paths)
                if record and record["pid"] == child.pid:
                    break
                if child.poll() is not None:
                    print(json.dumps({"error": "agent exited at start; see " + paths.agent_log}))
                    return 1
                time.sleep(0.01)
            else:
                print(json.dumps({"error": "agent did not start within 10s; see " + paths.agent_log}))
                return 1
            print(json.dumps({"pid": record["pid"], "started": True}))
            return 0
    print(json.dumps({"pid": record["pid"], "started": False}))
    return 0


def sweep_orphans(paths: Paths) -> list[str]:
    """Kill app processes recorded by an agent that died without stopping them."""
    killed = []
    for entry in os.listdir(paths.run):
        record = read_json(os.path.join(paths.run, entry))
        if record and is_alive(record["pid"], record.get("starttime")):
            signal_group(record["pid"], signal.SIGKILL)
            killed.append(entry[:-4])
        os.unlink(os.path.join(paths.run, entry))
    return killed


def cmd_stop(paths: Paths, args: argparse.Namespace) -> int:
    record = running_agent(paths)
    was_running = record is not None
    if record is not None:
        os.kill(record["pid"], signal.SIGTERM)
        deadline = time.time() + args.timeout
        while time.time() < deadline and is_alive(record["pid"], record.get("starttime")):
            time.sleep(0.05)
        if is_alive(record["pid"], record.get("starttime")):
            os.kill(record["pid"], signal.SIGKILL)
    killed = sweep_orphans(paths)
    print(json.dumps({"stopped": was_running, "orphans_killed": killed}))
    return 0


def cmd_status(paths: Paths, _args: argparse.Namespace) -> int:
    status = read_json(paths.status_file) or {"version": VERSION, "apps": {}, "last_activity": None}
    if running_agent(paths) is None:
        status["agent"] = {"state": "stopped", "pid": None}
        for app in status.get("apps", {}).values():
            app.update(state="stopped", pid=None, healthy=False)
    print(json.dumps(status, sort_keys=True))
    return 0


def cmd_put_app(paths: Paths, _args: argparse.Namespace) -> int:
    definition = json.load(sys.stdin)
    missing = [key for key in ("name", "argv") if not definition.get(key)]
    if missing or not isinstance(definition["argv"], list):
        print(json.dumps({"error": f"app definition needs name and argv (list); missing {missing}"}))
        return 2
    path = os.path.join(paths.apps, definition["name"] + ".json")
    changed = read_json(path) != definition
    if changed:
        write_json_atomic(path, definition)
    print(json.dumps({"name": definition["name"], "changed": changed}))
    return 0


def cmd_remove_app(paths: Paths, args: argparse.Namespace) -> int:
    path = os.path.join(paths.apps, args.name + ".json")
    existed = os.path.exists(path)
    if existed:
        os.unlink(path)
    print(json.dumps({"name": args.name, "removed": existed}))
    return 0


def cmd_logs(paths: Paths, args: argparse.Namespace) -> int:
    path = paths.app_log(args.name)
    if not os.path.exists(path):
        print(f"no log for app {args.name!r} yet", file=sys.stderr)
        return 3
    with open(path, "rb") as handle:
        lines = handle.readlines()[-args.lines :] if args.lines else []
        sys.stdout.buffer.write(b"".join(lines))
        sys.stdout.flush()
        handle.seek(0, os.SEEK_END)
        while args.follow:
            chunk = handle.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                if os.path.getsize(path) < handle.tell():  # rotated: start from the top
                    handle.seek(0)
                time.sleep(0.2)
    return 0


def cmd_wait(paths: Paths, args: argparse.Namespace) -> int:
    """Block until the app is healthy (exit 0) or the timeout passes (exit 4)."""
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        status = read_json(paths.status_file) or {}
        app = status.get("apps", {}).get(args.name)
        if app and app.get("healthy") and running_agent(paths):
            print(json.dumps(app))
            return 0
        if running_agent(paths) is None:
            print(json.dumps({"error": "the agent is not running"}))
            return 1
        time.sleep(0.025)
    print(json.dumps({"error": f"app {args.name} not healthy after {args.timeout:.0f}s", "timeout": True}))
    return 4


def cmd_freeport(_paths: Paths, _args: argparse.Namespace) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])
    return 0


COMMANDS = {
    "daemon": cmd_daemon, "start": cmd_start, "stop": cmd_stop, "status": cmd_status,
    "put-app": cmd_put_app, "wait": cmd_wait, "remove-app": cmd_remove_app, "logs": cmd_logs, "freeport": cmd_freeport,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roost_agent", description="roost's on-machine agent")
    parser.add_argument("--home", required=True)
    parser.add_argument("--max-log-bytes", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--keep-logs", type=int, default=3)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("daemon", "start", "status", "put-app", "freeport"):
        sub.add_parser(name)
    sub.add_parser("stop").add_argument("--timeout", type=float, default=20.0)
    sub.add_parser("remove-app").add_argument("name")
    wait = sub.add_parser("wait")
    wait.add_argument("name")
    wait.add_argument("--timeout", type=float, default=120.0)
    logs = sub.add_parser("logs")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args(argv)
    paths = Paths(args.home)
    paths.ensure()
    os.umask(0o077)
    try:
        return COMMANDS[args.command](paths, args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
