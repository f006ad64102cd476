"""The agent's commands (start, stop, status, put-app, wait, logs, ...) and its main()."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import sys
import time

from . import VERSION
from .base import Paths, digest, is_alive, log, read_json, signal_group, write_json_atomic
from .job_commands import JOB_COMMANDS, add_parsers, merge_config
from .supervisor import Supervisor


def running_agent(paths: Paths) -> dict | None:
    """The pid record of the live agent for this home, or None."""
    record = read_json(paths.pid_file)
    if record and is_alive(record["pid"], record.get("starttime")):
        return record
    return None


def cmd_daemon(paths: Paths, args: argparse.Namespace) -> int:
    lock = open(paths.daemon_lock, "w")  # noqa: SIM115  (held, and locked, for the agent's whole life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another agent already runs for this home")
        return 0
    return Supervisor(paths, args.max_log_bytes, args.keep_logs).run()


def _fork_daemon(paths: Paths, args: argparse.Namespace) -> int:
    """Start the daemon as a fork of this process, which has already imported what the daemon
    runs (a second interpreter would start and import it all again: ~30 ms of CPU on every
    machine's bring-up). The child leads its own session, reads nothing, writes to the agent
    log and holds no descriptor of ours (the start lock above all); returns its PID."""
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child:
        return child
    code = 1
    try:
        os.setsid()
        os.chdir(paths.home)
        log_fd = os.open(paths.agent_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)
        code = cmd_daemon(paths, args)
    except BaseException:  # the daemon's own failure, for its log: nothing else sees it
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def cmd_start(paths: Paths, args: argparse.Namespace) -> int:
    """Start the daemon unless it runs; with ``--config``, first merge the JSON config on stdin
    (the daemon starts with its autostop and budget already set: one call instead of two)."""
    if args.config:
        merge_config(paths, json.load(sys.stdin))
    with open(paths.start_lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = running_agent(paths)
        if record is None:
            child = _fork_daemon(paths, args)
            deadline = time.time() + 10
            while time.time() < deadline:
                record = running_agent(paths)
                if record and record["pid"] == child:
                    break
                if os.waitpid(child, os.WNOHANG)[0]:
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
        last = status.get("agent") or {}
        status["agent"] = {"state": "stopped", "pid": None, "reason": last.get("reason"), "gpus": last.get("gpus", [])}
        for app in status.get("apps", {}).values():
            app.update(state="stopped", pid=None, healthy=False)
    print(json.dumps(status, sort_keys=True))
    return 0


def cmd_put_app(paths: Paths, args: argparse.Namespace) -> int:
    """Register or update an app (its definition on stdin); with ``--wait SECONDS``, then wait
    until that definition runs healthy, in the same call (one process and round trip less)."""
    definition = json.load(sys.stdin)
    missing = [key for key in ("name", "argv") if not definition.get(key)]
    if missing or not isinstance(definition["argv"], list):
        print(json.dumps({"error": f"app definition needs name and argv (list); missing {missing}"}))
        return 2
    path = os.path.join(paths.apps, definition["name"] + ".json")
    changed = read_json(path) != definition
    if changed:
        write_json_atomic(path, definition)
    print(json.dumps({"name": definition["name"], "changed": changed, "digest": digest(definition)}), flush=True)
    if args.wait is None:
        return 0
    return wait_healthy(paths, definition["name"], args.wait, digest(definition))


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
    return wait_healthy(paths, args.name, args.timeout, args.digest)


def wait_healthy(paths: Paths, name: str, timeout: float, digest: str = "") -> int:
    """Print the app's status once it is healthy, running the definition with ``digest`` when
    given (exit 0); the reason it is not after ``timeout`` seconds (exit 4), or that the agent
    is not running (exit 1)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = read_json(paths.status_file) or {}
        app = status.get("apps", {}).get(name)
        current = app and (not digest or app.get("digest") == digest)  # the new definition runs
        if current and app.get("healthy") and running_agent(paths):
            print(json.dumps(app))
            return 0
        if running_agent(paths) is None:
            print(json.dumps({"error": "the agent is not running"}))
            return 1
        time.sleep(0.025)
    print(json.dumps({"error": f"app {name} not healthy after {timeout:.0f}s", "timeout": True}))
    return 4


def cmd_freeport(_paths: Paths, _args: argparse.Namespace) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])
    return 0


def cmd_http_get(_paths: Paths, args: argparse.Namespace) -> int:
    from .base import unix_http_get

    body = unix_http_get(args.socket, args.path)
    if body is None:
        print(f"nothing answers on {args.socket}", file=sys.stderr)
        return 1
    sys.stdout.write(body)
    return 0


def cmd_controller(paths: Paths, args: argparse.Namespace) -> int:
    from .controller import Controller

    return Controller(paths, args.config).run()


COMMANDS = {
    "daemon": cmd_daemon,
    "start": cmd_start,
    "stop": cmd_stop,
    "status": cmd_status,
    "put-app": cmd_put_app,
    "wait": cmd_wait,
    "remove-app": cmd_remove_app,
    "logs": cmd_logs,
    "freeport": cmd_freeport,
    "controller": cmd_controller,
    "http-get": cmd_http_get,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roost_agent", description="roost's on-machine agent")
    parser.add_argument("--home", required=True)
    parser.add_argument("--max-log-bytes", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--keep-logs", type=int, default=3)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("daemon", "status", "freeport"):
        sub.add_parser(name)
    sub.add_parser("start").add_argument("--config", action="store_true", help="merge the JSON config on stdin first")
    sub.add_parser("put-app").add_argument("--wait", type=float, help="then wait this long for it to be healthy")
    add_parsers(sub)
    sub.add_parser("stop").add_argument("--timeout", type=float, default=20.0)
    sub.add_parser("remove-app").add_argument("name")
    sub.add_parser("controller").add_argument("--config", required=True)
    http_get = sub.add_parser("http-get")
    http_get.add_argument("socket")
    http_get.add_argument("path")
    wait = sub.add_parser("wait")
    wait.add_argument("name")
    wait.add_argument("--timeout", type=float, default=120.0)
    wait.add_argument("--digest", default="", help="wait for the app definition with this digest")
    logs = sub.add_parser("logs")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args(argv)
    paths = Paths(args.home)
    paths.ensure()
    os.umask(0o077)
    try:
        return {**COMMANDS, **JOB_COMMANDS}[args.command](paths, args)
    except KeyboardInterrupt:
        return 130
