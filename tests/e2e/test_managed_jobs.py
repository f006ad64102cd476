"""`roost run --detach`: the server sees a job through with no CLI running: its host is lost,
the server is killed with SIGKILL in the middle of the recovery and started again, and the job
still resumes on the other host from its last checkpoint, once, and the machine goes down. The
checkpoints are kept in the spec's backup_to (moto's S3) as well."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import roost
from tests.e2e.test_jobs import ssh_host, write_spec
from tests.e2e.test_serve import roost_cli
from tests.e2e.test_server import Server
from tests.helpers import wait_for
from tests.hook_receiver import HookReceiver

pytestmark = pytest.mark.e2e

# each epoch is appended to a history kept in the checkpoint, so the history that comes back
# says which epochs ran where, and that none ran twice
RESUMABLE = """
import os, pathlib, shutil, socket, time
checkpoints = pathlib.Path(os.environ["ROOST_CHECKPOINT_DIR"])
history = checkpoints / "history"
done = history.read_text().split() if history.exists() else []
for epoch in range(len(done) // 2 + 1, 15):
    time.sleep(0.6)
    done += [str(epoch), socket.gethostname()]
    tmp = checkpoints / "history.tmp"
    tmp.write_text(" ".join(done))
    tmp.rename(history)
    print(f"epoch {epoch}", flush=True)
pathlib.Path("out").mkdir(exist_ok=True)
shutil.copy(history, "out/history")
"""


def test_a_detached_job_survives_its_host_and_a_killed_server(
    testhosts, aws, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = HookReceiver()
    monkeypatch.setenv("ROOST_TEST_HOOK", f"json://127.0.0.1:{hook.port}/hook")  # the server resolves it
    s3 = aws.moto.client("s3")  # the checkpoints' store (backup_to), moto's S3 API
    s3.create_bucket(Bucket="ckpts")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "train.py").write_text(RESUMABLE)
    first, second = testhosts.hosts[0], testhosts.hosts[1]
    spec = write_spec(
        tmp_path,
        {
            "name": "managed",
            "backend": "ssh",
            "workdir": "job",
            "run": "python3 train.py",
            "outputs": ["out"],
            "recover": True,
            "checkpoint_every": "0.5s",
            "backup_to": "s3://ckpts/runs",
            "notify": ["$ROOST_TEST_HOOK"],
            "hosts": [ssh_host(testhosts, 0), ssh_host(testhosts, 1)],
        },
    )
    alone = roost_cli("run", str(spec), "--detach")
    assert alone.returncode == 1 and "none runs here" in alone.stderr and "`roost server`" in alone.stderr

    server = Server(roost_home, tmp_path)
    try:
        handed = roost_cli("run", str(spec), "--detach", "--down")  # returns at once; no CLI runs after
        assert handed.returncode == 0 and "handed to the server" in handed.stdout, handed.stderr
        history = testhosts.home_of(first)
        wait_for(lambda: epochs_in(history) >= 5, 180, "five epochs on the first host")
        testhosts.stop(first.index)  # the machine is lost mid-job
        lost_at = time.time()

        def moving() -> bool:  # the server has begun the move: the record names the other host
            found = roost.managed_jobs("managed")
            record = [m for m in roost_status_records() if m.name == "managed"]
            return bool(found) and bool(record) and record[0].facts.host == second.ip

        wait_for(moving, 120, "the recovery to begin")
        server.process.kill()  # SIGKILL in the middle of the recovery
        server.process.wait()
        server = Server(roost_home, tmp_path)
        ended = wait_for(lambda: [j for j in roost.managed_jobs("managed") if j.settled], 300, "the job's end")
        # the server tells the webhook, though the machine went right after the end (once each: below)
        wait_for(lambda: hook.titled("managed: job succeeded"), 30, "the job's notification")
    finally:
        server.end()
        testhosts.start(first.index)
    job = ended[0]
    print((tmp_path / "server.err").read_text()[-2000:])
    assert job.state == "succeeded" and job.exit_code == 0, job
    assert len(job.recoveries) == 1 and job.recoveries[0].host == second.ip, job.recoveries
    print(f"host lost -> job running again (SSH, server killed once on the way): {job.recoveries[0].at - lost_at:.1f}s")
    assert job.outputs
    record = (Path(job.outputs) / "out" / "history").read_text().split()
    epochs, hosts = [int(e) for e in record[::2]], record[1::2]
    assert epochs == list(range(1, 15))  # every epoch once: resumed from the checkpoint, never doubled
    moved_at = hosts.index(second.name)
    assert moved_at >= 2 and set(hosts[:moved_at]) == {first.name} and set(hosts[moved_at:]) == {second.name}
    assert roost.status() == []  # --down: the machine went at the end
    # the checkpoints were kept in the store too, on from the move: its last one is the history so far
    stored = s3.get_object(Bucket="ckpts", Key="runs/managed.checkpoint/history")["Body"].read().decode().split()
    assert len(stored) > 2 * (moved_at + 1) and record[: len(stored)] == stored
    # and the outputs, beside them
    assert job.stored_outputs == "s3://ckpts/runs/managed.outputs/0001/"
    kept = s3.get_object(Bucket="ckpts", Key="runs/managed.outputs/0001/out/history")["Body"].read().decode()
    assert kept.split() == record
    assert len(hook.titled("job recovered")) == 1 and len(hook.titled("job succeeded")) == 1, hook.received
    hook.close()
    _dashboard_shows_the_recovery(roost_home, tmp_path, first.ip)
    listed = roost_cli("jobs", "managed")
    assert listed.returncode == 0 and "managed by the server: succeeded" in listed.stdout, listed.stderr
    assert "recovered" in listed.stdout and f"{first.ip} lost" in listed.stdout and "checkpoint of" in listed.stdout


def epochs_in(home: Path) -> int:
    """Epochs done on a host, by the history in its checkpoint directory (0 before the first)."""
    found = list(home.glob(".roost/machines/*/checkpoints/history"))
    return len(found[0].read_text().split()) // 2 if found else 0


def roost_status_records():
    from roost.machine.state import State

    state = State()
    try:
        return state.machines()
    finally:
        state.close()


def _dashboard_shows_the_recovery(roost_home: Path, tmp_path: Path, lost: str) -> None:
    """The jobs page lists the managed job with its recovery (screenshot: server-managed-jobs.png)."""
    from tests.browser import ARTIFACTS, chromium

    server = Server(roost_home, tmp_path)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(server.login)
            page.goto(server.url + "/jobs")
            row = page.locator("#managed-jobs tr", has_text="managed")
            assert "succeeded (machine down)" in row.inner_text()
            recovery = row.locator(".recovery").inner_text()
            assert f"{lost} lost" in recovery and "from the checkpoint of" in recovery, recovery
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "server-managed-jobs.png"), full_page=True)
    finally:
        server.end()
