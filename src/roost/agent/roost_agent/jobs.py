"""Jobs: a FIFO queue per machine with CPU and GPU slots, each job in its own process group.

A job lives in ``jobs/ID/``: ``spec.json`` (what to run), ``status.json`` (state, PID,
times, exit code), ``log`` (all it printed) and, briefly, ``secrets.json`` (0600, deleted
as soon as the job starts). A job keeps running when the client disconnects; its exit
code is written by a wrapper shell, so even an agent restarted meanwhile learns it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time

from .base import Paths, is_alive, log, proc_identity, read_json, signal_group, write_json_atomic

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ENDED = (SUCCEEDED, FAILED, CANCELLED)
# the job's command runs in an inner shell; the outer one records its exit code
# $1 is the job's command file (any size: an argument may hold only 128 KiB on Linux)
WRAPPER = 'sh "$1"; rc=$?; echo $rc > "$2.tmp" && mv "$2.tmp" "$2"; exit $rc'


def job_dir(paths: Paths, job_id: str) -> str:
    return os.path.join(paths.home, "jobs", job_id)


def next_job_id(paths: Paths) -> str:
    """A new id, unique on this machine (a counter under a lock)."""
    root = os.path.join(paths.home, "jobs")
    os.makedirs(root, mode=0o700, exist_ok=True)
    with open(os.path.join(root, ".counter.lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        number = int(handle.read().strip() or 0) + 1
        handle.seek(0)
        handle.truncate()
        handle.write(str(number))
    return f"{number:04d}"


def submit(paths: Paths, spec: dict, secrets: dict[str, str]) -> str:
    """Queue a job; returns its id. Secrets go to a 0600 file the agent deletes at start."""
    job_id = next_job_id(paths)
    directory = job_dir(paths, job_id)
    # built aside and renamed into place: the daemon never sees a job half-written
    staging = os.path.join(paths.home, "jobs", f".new-{job_id}")
    os.makedirs(staging, mode=0o700)
    if secrets:
        write_json_atomic(os.path.join(staging, "secrets.json"), secrets)
    write_json_atomic(os.path.join(staging, "spec.json"), {**spec, "id": job_id})
    write_json_atomic(
        os.path.join(staging, "status.json"), {"id": job_id, "state": QUEUED, "submitted_at": time.time()}
    )
    os.rename(staging, directory)
    return job_id


def list_jobs(paths: Paths) -> list[dict]:
    """Every job's status, oldest first."""
    root = os.path.join(paths.home, "jobs")
    if not os.path.isdir(root):
        return []
    found = []
    for job_id in sorted(os.listdir(root)):
        if job_id.startswith("."):
            continue
        status = read_json(os.path.join(root, job_id, "status.json"))
        if status:
            spec = read_json(os.path.join(root, job_id, "spec.json")) or {}
            found.append({**status, "command": spec.get("command"), "gpus": spec.get("gpus", 0)})
    return found


def detect_gpus() -> list[str]:
    """GPU indices as ``nvidia-smi -L`` lists them (none when there is no NVIDIA driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def _spawn(directory: str, spec: dict, extra_env: dict) -> subprocess.Popen:
    """Start the job's command in its own session, output to its log; its secrets file is
    read into the environment and deleted whether or not the start succeeds."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(spec.get("env") or {})
    secrets_file = os.path.join(directory, "secrets.json")
    env.update(read_json(secrets_file) or {})
    env.update(extra_env)
    command_file = os.path.join(directory, "command.sh")
    with open(os.open(command_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(spec["command"])
    out = os.open(os.path.join(directory, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            ["sh", "-c", WRAPPER, "roost-job", command_file, os.path.join(directory, "exit_code")],
            cwd=spec.get("cwd") or None, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # fmt: skip
    finally:
        os.close(out)
        forget_secrets(directory)


def forget_secrets(directory: str) -> None:
    """Delete a job's secrets file, if it is still there."""
    try:
        os.unlink(os.path.join(directory, "secrets.json"))
    except FileNotFoundError:
        pass


class JobQueue:
    """The daemon's side: start queued jobs in order when their slots are free, reap them."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.cpus = os.cpu_count() or 1
        self.gpus = detect_gpus()
        self.running: dict[str, dict] = {}  # id -> {"popen", "pid", "starttime", "cpus", "gpus"}
        self.adopt()

    def adopt(self) -> None:
        """Take over jobs a previous agent started that still run."""
        for job in list_jobs(self.paths):
            if job["state"] == RUNNING and job.get("pid") and is_alive(job["pid"], job.get("starttime")):
                spec = read_json(os.path.join(job_dir(self.paths, job["id"]), "spec.json")) or {}
                self.running[job["id"]] = {
                    "popen": None,
                    "pid": job["pid"],
                    "starttime": job.get("starttime"),
                    "cpus": spec.get("cpus", 1),
                    "gpus": job.get("gpu_ids", []),
                }

    def busy(self) -> bool:
        """True while any job runs or waits."""
        return bool(self.running) or any(job["state"] == QUEUED for job in list_jobs(self.paths))

    def tick(self) -> None:
        """Reap ended jobs, then start queued ones (FIFO: the head waits for its slots)."""
        for job_id in list(self.running):
            self._reap(job_id)
        for job in list_jobs(self.paths):
            if job["state"] != QUEUED:
                continue
            if os.path.exists(os.path.join(job_dir(self.paths, job["id"]), "cancel")):
                self._finish(job["id"], None, CANCELLED)
                continue
            if not self._start(job["id"]):
                break

    def _free(self) -> tuple[int, list[str]]:
        used_cpus = sum(run["cpus"] for run in self.running.values())
        used_gpus = {gpu for run in self.running.values() for gpu in run["gpus"]}
        return self.cpus - used_cpus, [gpu for gpu in self.gpus if gpu not in used_gpus]

    def _start(self, job_id: str) -> bool:
        directory = job_dir(self.paths, job_id)
        spec = read_json(os.path.join(directory, "spec.json")) or {}
        cpus, gpus = min(int(spec.get("cpus", 1)), self.cpus), int(spec.get("gpus", 0))
        free_cpus, free_gpus = self._free()
        if gpus > len(self.gpus):
            self._finish(job_id, None, FAILED, reason=f"needs {gpus} GPU(s); this machine has {len(self.gpus)}")
            return True
        if cpus > free_cpus or gpus > len(free_gpus):
            return False
        gpu_ids = free_gpus[:gpus]
        popen = _spawn(directory, spec, {"ROOST_JOB_ID": job_id, "CUDA_VISIBLE_DEVICES": ",".join(gpu_ids)})
        ident = proc_identity(popen.pid)
        self.running[job_id] = {
            "popen": popen,
            "pid": popen.pid,
            "starttime": ident[1] if ident else None,
            "cpus": cpus,
            "gpus": gpu_ids,
        }
        status = read_json(os.path.join(directory, "status.json")) or {}
        write_json_atomic(
            os.path.join(directory, "status.json"),
            {
                **status,
                "state": RUNNING,
                "pid": popen.pid,
                "starttime": self.running[job_id]["starttime"],
                "started_at": time.time(),
                "gpu_ids": gpu_ids,
            },
        )
        log(f"started job {job_id} pid {popen.pid}")
        return True

    def _reap(self, job_id: str) -> None:
        run = self.running[job_id]
        if run["popen"] is not None:
            if run["popen"].poll() is None:
                return
        elif is_alive(run["pid"], run["starttime"]):
            return
        del self.running[job_id]
        directory = job_dir(self.paths, job_id)
        try:
            with open(os.path.join(directory, "exit_code")) as handle:
                code: int | None = int(handle.read().strip())
        except (OSError, ValueError):
            code = run["popen"].returncode if run["popen"] is not None else None
        if os.path.exists(os.path.join(directory, "cancel")):
            state = CANCELLED
        else:
            state = SUCCEEDED if code == 0 else FAILED
        self._finish(job_id, code, state)

    def _finish(self, job_id: str, code: int | None, state: str, reason: str | None = None) -> None:
        forget_secrets(job_dir(self.paths, job_id))  # a job cancelled while queued or refused never read them
        path = os.path.join(job_dir(self.paths, job_id), "status.json")
        status = read_json(path) or {"id": job_id}
        write_json_atomic(
            path,
            {
                **status,
                "state": state,
                "exit_code": code,
                "ended_at": time.time(),
                **({"reason": reason} if reason else {}),
            },
        )
        log(f"job {job_id} {state} (exit code {code})")

    def signal_all(self, number: int) -> int:
        """Send ``number`` to every running job's process group; how many got it."""
        for run in self.running.values():
            signal_group(run["pid"], number)
        return len(self.running)

    def stop_all(self) -> None:
        """End every running job's process group (the agent is stopping)."""
        for run in list(self.running.values()):
            signal_group(run["pid"], signal.SIGTERM)
        deadline = time.time() + 10
        while self.running and time.time() < deadline:
            for job_id in list(self.running):
                self._reap(job_id)
            time.sleep(0.05)
        for run in self.running.values():
            signal_group(run["pid"], signal.SIGKILL)


def cancel(paths: Paths, job_id: str, grace: float = 10.0) -> dict:
    """Cancel a job: a queued one never starts; a running one's whole process tree ends."""
    directory = job_dir(paths, job_id)
    status = read_json(os.path.join(directory, "status.json"))
    if status is None:
        return {"error": f"no job {job_id}"}
    if status["state"] in ENDED:
        return {"id": job_id, "state": status["state"], "cancelled": False}
    open(os.path.join(directory, "cancel"), "w").close()
    if status["state"] == QUEUED:
        forget_secrets(directory)
    if status["state"] == RUNNING and is_alive(status["pid"], status.get("starttime")):
        signal_group(status["pid"], signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and is_alive(status["pid"], status.get("starttime")):
            time.sleep(0.05)
        signal_group(status["pid"], signal.SIGKILL)
    return {"id": job_id, "cancelled": True}
