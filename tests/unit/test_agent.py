"""The on-machine agent, run for real: supervise, restart with backoff, rotate, stop, adopt."""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.agent.client import AgentClient, AgentStatus, AppDefinition
from roost.errors import HealthTimeout
from roost.transport.local import LocalRunner
from tests.helpers import alive, free_port, wait_for


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentClient]:
    client = AgentClient(LocalRunner(), str(tmp_path / "machine"))
    client.install()
    yield client
    client.stop(timeout=5)


def web_app(port: int, name: str = "web") -> AppDefinition:
    return AppDefinition(
        name=name,
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        port=port,
        health_path="/",
    )


def app_status(agent: AgentClient, name: str = "web"):
    return agent.status().apps.get(name)


def test_status_before_start_says_stopped(agent: AgentClient) -> None:
    status = agent.status()
    assert isinstance(status, AgentStatus) and not status.running and status.apps == {}


def test_start_is_idempotent(agent: AgentClient) -> None:
    first = agent.start()
    assert agent.start() == first
    assert agent.status().agent.pid == first


def test_crashed_app_is_restarted_and_healthy_again(agent: AgentClient) -> None:
    port = free_port()
    agent.start()
    agent.put_app(web_app(port))
    first = agent.wait_healthy("web", 15)
    os.kill(first.pid, signal.SIGKILL)
    again = wait_for(lambda: (s := app_status(agent)) and s.healthy and s.pid != first.pid and s, what="restart")
    assert again.restarts == 1 and again.last_exit_code == -9
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/").status == 200


def test_start_app_registers_and_waits_in_one_call_and_reports_an_app_that_never_answers(agent: AgentClient) -> None:
    port = free_port()
    agent.start()
    started = agent.start_app(web_app(port), 15)
    assert started.healthy and urllib.request.urlopen(f"http://127.0.0.1:{port}/").status == 200
    # a changed definition: the answer is about the new process, not the old one still healthy
    moved = free_port()
    again = agent.start_app(web_app(moved), 15)
    assert again.healthy and again.pid != started.pid and again.digest != started.digest
    silent = AppDefinition(
        name="silent", argv=["sh", "-c", "echo never listening; sleep 300"], port=free_port(), health_path="/"
    )
    with pytest.raises(HealthTimeout, match="was not healthy after 2s") as failed:
        agent.start_app(silent, 2, log_hint="see its log")
    assert "never listening" in str(failed.value) and failed.value.hint == "see its log"


def test_failing_app_backs_off_exponentially(agent: AgentClient, tmp_path: Path) -> None:
    agent.start()
    agent.put_app(AppDefinition(name="bad", argv=["sh", "-c", "echo failing; exit 3"]))
    wait_for(lambda: (s := app_status(agent, "bad")) and s.restarts >= 3, what="three restarts")
    log = (tmp_path / "machine" / "logs" / "bad.log").read_text()
    assert "exited with code 3; restarting in 0.5s" in log
    assert "restarting in 1.0s" in log and "restarting in 2.0s" in log
    assert app_status(agent, "bad").last_exit_code == 3


def test_stop_ends_the_app_and_its_children(agent: AgentClient, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    agent.start()
    agent.put_app(AppDefinition(name="tree", argv=["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"]))
    grandchild = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="grandchild"))
    app_pid = wait_for(lambda: (s := app_status(agent, "tree")) and s.pid, what="app pid")
    agent.stop()
    assert not alive(int(app_pid)) and not alive(grandchild)
    status = agent.status()
    assert not status.running and status.apps["tree"].state == "stopped"


def test_new_agent_adopts_apps_of_a_killed_one(agent: AgentClient) -> None:
    port = free_port()
    agent_pid = agent.start()
    agent.put_app(web_app(port))
    app_pid = agent.wait_healthy("web", 15).pid
    os.kill(agent_pid, signal.SIGKILL)
    wait_for(lambda: not alive(agent_pid), what="agent death")
    assert alive(app_pid)  # apps outlive their supervisor
    assert agent.start() != agent_pid
    adopted = agent.wait_healthy("web", 15)
    assert adopted.pid == app_pid and adopted.restarts == 0


def test_stop_sweeps_apps_left_by_a_dead_agent(agent: AgentClient) -> None:
    agent_pid = agent.start()
    agent.put_app(AppDefinition(name="sleeper", argv=["sleep", "300"]))
    app_pid = int(wait_for(lambda: (s := app_status(agent, "sleeper")) and s.pid, what="app"))
    os.kill(agent_pid, signal.SIGKILL)
    wait_for(lambda: not alive(agent_pid), what="agent death")
    agent.stop()
    assert not alive(app_pid)


def test_logs_are_rotated_past_the_size_limit(tmp_path: Path) -> None:
    home = tmp_path / "machine"
    client = AgentClient(LocalRunner(), str(home))
    client.install()
    runner = LocalRunner()
    runner.run([sys.executable, client.path, "--home", str(home), "--max-log-bytes", "4000", "start"])
    try:
        loop = "i=0; while true; do i=$((i+1)); echo line $i of a chatty app; sleep 0.01; done"
        client.put_app(AppDefinition(name="chatty", argv=["sh", "-c", loop]))
        log = home / "logs" / "chatty.log"
        wait_for(lambda: Path(f"{log}.2").exists(), timeout=30, what="two rotations")
        assert Path(f"{log}.1").stat().st_size > 4000
        lines: list[str] = []
        client.logs("chatty", lines=5, on_output=lines.append)
        assert 1 <= len(lines) <= 5 and all("of a chatty app" in line for line in lines)
    finally:
        client.stop(timeout=5)


def test_connections_to_an_app_count_as_activity(agent: AgentClient) -> None:
    port = free_port()
    agent.start()
    agent.put_app(web_app(port))
    agent.wait_healthy("web", 15)
    before = agent.status().last_activity
    with socket.create_connection(("127.0.0.1", port)):
        wait_for(lambda: agent.status().last_activity > before, what="activity recorded")


def test_jobs_queue_in_order_for_their_cpu_slots(agent: AgentClient, tmp_path: Path) -> None:
    from roost.agent.client import JobRequest

    agent.start()
    everything = os.cpu_count() or 1
    marks = tmp_path / "marks"
    marks.mkdir()
    big = agent.submit_job(JobRequest(command=f"echo big >> {marks}/order; sleep 1", cpus=everything))
    small = agent.submit_job(JobRequest(command=f"echo small >> {marks}/order", cpus=1))
    assert big < small
    # the small job waits for the big one's slots (FIFO: no jumping the queue)
    wait_for(lambda: agent.job(big).state == "running", what="the big job")
    assert agent.job(small).state == "queued"
    wait_for(lambda: agent.job(small).ended, what="the small job")
    assert (marks / "order").read_text() == "big\nsmall\n"
    assert [job.state for job in agent.jobs()] == ["succeeded", "succeeded"]


def test_a_job_asking_for_more_gpus_than_exist_fails_with_the_reason(agent: AgentClient) -> None:
    from roost.agent.client import JobRequest

    agent.start()
    job = agent.submit_job(JobRequest(command="echo should-not-run", gpus=1))
    failed = wait_for(lambda: (j := agent.job(job)).ended and j, what="the job to be refused")
    assert failed.state == "failed" and "needs 1 GPU(s); this machine has 0" in (failed.reason or "")


def test_a_jobs_secrets_file_is_gone_on_every_way_a_job_ends(agent: AgentClient, tmp_path: Path) -> None:
    """Started, refused for GPUs, cancelled while queued: no secrets.json stays behind."""
    from roost.agent.client import JobRequest

    agent.start()
    jobs = tmp_path / "machine" / "jobs"
    everything = os.cpu_count() or 1
    blocker = agent.submit_job(JobRequest(command="sleep 30", cpus=everything, secrets={"TOKEN": "s1"}))
    refused = agent.submit_job(JobRequest(command="true", gpus=1, secrets={"TOKEN": "s2"}))
    queued = agent.submit_job(JobRequest(command="true", cpus=everything, secrets={"TOKEN": "s3"}))
    wait_for(lambda: agent.job(blocker).state == "running", what="the blocking job")
    assert agent.job(queued).state == "queued" and (jobs / queued / "secrets.json").exists()
    assert agent.cancel(queued)
    wait_for(lambda: agent.job(refused).ended and agent.job(queued).ended, what="the refused and cancelled jobs")
    assert agent.cancel(blocker)
    wait_for(lambda: agent.job(blocker).ended, what="the blocking job to end")
    assert [agent.job(j).state for j in (blocker, refused, queued)] == ["cancelled", "failed", "cancelled"]
    assert sorted(p.parent.name for p in jobs.glob("*/secrets.json")) == []


def test_the_agent_runs_from_its_own_bytecode_on_the_python_that_built_it(tmp_path: Path) -> None:
    import zipfile

    from roost.agent.client import agent_archive

    with zipfile.ZipFile(io.BytesIO(agent_archive())) as shipped:
        names = set(shipped.namelist())
    assert "roost_agent/commands.pyc" in names and "roost_agent/commands.py" in names
    client = AgentClient(LocalRunner(), str(tmp_path / "machine"))
    client.install()
    client.start()
    assert client.status().running
    client.stop()
    assert not [path for path in (tmp_path / "machine" / "agent").iterdir() if path.name.startswith("lib-")]


def test_another_python_unpacks_the_agent_once_and_a_newer_agent_replaces_the_older_copy(tmp_path: Path) -> None:
    from roost.agent.client import ARCHIVE_MAIN, build_archive

    client = AgentClient(LocalRunner(), str(tmp_path / "machine"))
    agent_dir = tmp_path / "machine" / "agent"
    agent_dir.mkdir(parents=True)
    (agent_dir / "roost_agent.pyz").write_bytes(build_archive("cpython-00"))  # bytecode for no Python here
    assert not client.status().running
    [unpacked] = [path for path in agent_dir.iterdir() if path.name.startswith("lib-")]
    assert (unpacked / "roost_agent" / "__pycache__").is_dir()  # the second command finds bytecode
    assert (unpacked.stat().st_mode & 0o077) == 0
    cached = {path.name: path.stat().st_mtime_ns for path in (unpacked / "roost_agent" / "__pycache__").iterdir()}
    client.status()
    again = {path.name: path.stat().st_mtime_ns for path in (unpacked / "roost_agent" / "__pycache__").iterdir()}
    assert again == cached  # not compiled again

    newer = io.BytesIO()  # the same sources shipped by a newer roost: another digest
    with zipfile.ZipFile(io.BytesIO(build_archive("cpython-00"))) as shipped, zipfile.ZipFile(newer, "w") as archive:
        for name in shipped.namelist():
            data = shipped.read(name)
            main = ARCHIVE_MAIN.format(digest="0123456789abcdef", tag="cpython-00")
            archive.writestr(name, main.encode() if name == "__main__.py" else data)
    (agent_dir / "roost_agent.pyz").write_bytes(newer.getvalue())
    assert not client.status().running
    assert [path.name for path in agent_dir.iterdir() if path.name.startswith("lib-")] == ["lib-0123456789abcdef"]
