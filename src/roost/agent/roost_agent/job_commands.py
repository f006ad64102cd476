"""The agent's job commands: submit-job, jobs, job-logs, cancel, put-config."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .base import Paths, read_json, write_json_atomic
from .jobs import ENDED, cancel, job_dir, list_jobs, submit


def cmd_submit_job(paths: Paths, _args: argparse.Namespace) -> int:
    """Queue the job given as JSON on stdin: command, env, cwd, cpus, gpus, secrets."""
    request = json.load(sys.stdin)
    if not request.get("command"):
        print(json.dumps({"error": "a job needs a command"}))
        return 2
    secrets = request.pop("secrets", None) or {}
    job_id = submit(paths, request, secrets)
    print(json.dumps({"id": job_id}))
    return 0


def cmd_jobs(paths: Paths, _args: argparse.Namespace) -> int:
    """Every job's status as a JSON list."""
    print(json.dumps(list_jobs(paths)))
    return 0


def cmd_job_logs(paths: Paths, args: argparse.Namespace) -> int:
    """A job's output from byte ``--offset`` on; ``--follow`` until the job has ended."""
    directory = job_dir(paths, args.id)
    if read_json(os.path.join(directory, "status.json")) is None:
        print(f"no job {args.id}", file=sys.stderr)
        return 3
    path = os.path.join(directory, "log")
    while not os.path.exists(path):
        status = read_json(os.path.join(directory, "status.json")) or {}
        if not args.follow or status.get("state") in ENDED:
            return 0
        time.sleep(0.1)
    with open(path, "rb") as handle:
        handle.seek(args.offset)
        while True:
            chunk = handle.read(65536)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                continue
            if not args.follow:
                return 0
            status = read_json(os.path.join(directory, "status.json")) or {}
            if status.get("state") in ENDED:
                rest = handle.read()  # anything written between the last read and the end
                sys.stdout.buffer.write(rest)
                sys.stdout.flush()
                return 0
            time.sleep(0.1)


def cmd_cancel(paths: Paths, args: argparse.Namespace) -> int:
    """Cancel a job (its whole process tree ends)."""
    answer = cancel(paths, args.id)
    os.utime(paths.jobs)  # wake the daemon for a queued job
    print(json.dumps(answer))
    return 1 if "error" in answer else 0


def merge_config(paths: Paths, incoming: dict) -> dict:
    """Merge ``incoming`` into the agent's config (e.g. autostop_seconds); the whole config after."""
    config = read_json(paths.config_file) or {}
    config.update(incoming)
    if "autostop_seconds" in incoming:  # a new autostop counts idle time from now (this machine's clock)
        config["autostop_set_at"] = time.time()
    write_json_atomic(paths.config_file, config)
    return config


def cmd_put_config(paths: Paths, _args: argparse.Namespace) -> int:
    """Merge the JSON on stdin into the agent's config."""
    print(json.dumps(merge_config(paths, json.load(sys.stdin))))
    return 0


JOB_COMMANDS = {
    "submit-job": cmd_submit_job,
    "jobs": cmd_jobs,
    "job-logs": cmd_job_logs,
    "cancel": cmd_cancel,
    "put-config": cmd_put_config,
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the job commands' arguments."""
    for name in ("submit-job", "jobs", "put-config"):
        sub.add_parser(name)
    logs = sub.add_parser("job-logs")
    logs.add_argument("id")
    logs.add_argument("--offset", type=int, default=0)
    logs.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("cancel").add_argument("id")
