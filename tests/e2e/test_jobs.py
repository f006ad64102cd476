"""Training jobs for real: live logs, detach and re-attach, outputs, cancel, --down, autostop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import roost
from roost.errors import BackendError, SpecError
from roost.machine.record import MachineState
from tests.harness.streamed import Streamed
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]
REPO = Path(__file__).resolve().parents[2]


def write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def ssh_host(testhosts, index: int) -> dict:
    host = testhosts.hosts[index]
    return {
        "address": host.ip,
        "user": host.user,
        "key": host.key,
        "host_key": host.host_key_fingerprint,
        "connect_timeout": 5,
    }


def test_run_streams_logs_downloads_outputs_and_returns_the_exit_code(roost_home: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "train.sh").write_text(
        "echo training with $EPOCHS epochs\nmkdir -p out && echo weights > out/model.bin\n"
        "echo secret is ${HF_TOKEN:+set}\nexit 3\n"
    )
    spec = write_spec(
        tmp_path,
        {
            "name": "job",
            "workdir": "proj",
            "run": "sh train.sh",
            "envs": {"EPOCHS": 2},
            "secrets": ["HF_TOKEN"],
            "outputs": ["out", "never-made.txt"],
            "setup": "echo setup ran >> setup.log",
        },
    )
    env = {**os.environ, "HF_TOKEN": "hf-very-secret-value"}
    first = subprocess.run(
        [*ROOST, "run", str(spec)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert first.returncode == 3, first.stderr
    assert "training with 2 epochs" in first.stdout and "secret is set" in first.stdout
    assert "hf-very-secret-value" not in first.stdout + first.stderr
    assert "warning: output 'never-made.txt' was not found on the machine" in first.stderr
    assert (tmp_path / "roost-outputs" / "0001" / "out" / "model.bin").read_text() == "weights\n"
    # the secret was never written to the machine's files or roost's state
    hits = [p for p in roost_home.rglob("*") if p.is_file() and b"hf-very-secret-value" in p.read_bytes()]
    assert hits == []
    # a second run: setup's text did not change, so it does not run again
    second = subprocess.run(
        [*ROOST, "run", str(spec)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert second.returncode == 3 and "run setup  (done before)" in second.stderr
    assert roost.exec("job", "cat setup.log").stdout == "setup ran\n"
    assert [(j.id, j.state, j.exit_code) for j in roost.jobs("job")] == [("0001", "failed", 3), ("0002", "failed", 3)]


def test_down_after_a_failing_job_leaves_nothing_running(roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"name": "gone", "run": "no-such-command-roost", "outputs": ["x"]})
    result = roost.run(spec, down=True, outputs_root=tmp_path / "outs")
    assert result.state == "failed" and result.exit_code == 127 and result.machine_down
    assert roost.status() == [] and not (roost_home / "machines" / "gone").exists()


def test_a_failed_precondition_leaves_nothing_behind(roost_home: Path, tmp_path: Path) -> None:
    """A missing workdir or file mount, a missing secret, an unusable host: refused with one
    message, and no machine folder, no state row, no process is left."""
    cases = [
        ({"name": "nowork", "app": "jupyter", "workdir": "nowhere"}, "field 'workdir'"),
        ({"name": "nomount", "app": "jupyter", "file_mounts": {"data.csv": "missing.csv"}}, "file_mounts.data.csv"),
        ({"name": "nosecret", "app": "jupyter", "secrets": ["ROOST_TEST_NOT_SET"]}, "ROOST_TEST_NOT_SET is not set"),
        (
            {"name": "nokey", "backend": "ssh", "hosts": [{"address": "10.9.9.9", "user": "u", "key": "/no/key"}]},
            "cannot read the key file /no/key",
        ),
    ]
    for spec, words in cases:
        result = subprocess.run(
            [*ROOST, "up", str(write_spec(tmp_path, spec))], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not (roost_home / "machines" / spec["name"]).exists(), spec["name"]
    assert roost.status() == []


def test_bad_job_specs_are_refused_before_anything_runs(roost_home: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="'run' is required for `roost run`"):
        roost.run(write_spec(tmp_path, {"name": "norun"}))
    with pytest.raises(SpecError, match="field 'workdir': the workdir .*nowhere does not exist"):
        roost.run(write_spec(tmp_path, {"name": "nowork", "run": "true", "workdir": "nowhere"}))
    with pytest.raises(
        BackendError,
        match=r"asks for 1 T4 GPU\(s\); machine 'gpu' has 0 \(nvidia-smi\)\. "
        r"Nothing was run",
    ):
        roost.run(write_spec(tmp_path, {"name": "gpu", "run": "touch ran", "resources": {"accelerators": "T4:1"}}))
    assert roost.jobs("gpu") == []
    assert roost.exec("gpu", "test -e ran").exit_code == 1


def test_logs_have_no_gaps_across_a_client_disconnect(testhosts, roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        {
            "name": "follow",
            "backend": "ssh",
            "hosts": [ssh_host(testhosts, 0)],
            "run": "for i in $(seq 1 60); do echo line $i; sleep 0.05; done",
        },
    )
    proc = subprocess.Popen(
        [*ROOST, "run", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert proc.stdout is not None
    seen = [proc.stdout.readline() for _ in range(5)]
    assert seen[-1] == "line 5\n"
    proc.send_signal(signal.SIGINT)  # Ctrl-C: detach, the job goes on
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "detached; job 0001 keeps running" in err
    assert roost.jobs("follow")[0].state in ("running", "succeeded")
    lines: list[str] = []
    roost.job_logs("follow", "0001", follow=True, on_output=lines.append)
    assert lines == [f"line {i}\n" for i in range(1, 61)]
    assert roost.jobs("follow")[0].state == "succeeded"
    # and from an offset, only the rest
    rest: list[str] = []
    roost.job_logs("follow", "0001", offset=len("".join(lines[:58]).encode()), on_output=rest.append)
    assert rest == ["line 59\n", "line 60\n"]


# setup counts the processes on the machine whose command line holds the secret (sh's own
# `case`, so that no counting process has it in its own argv)
SECRET_IN_ARGV = """n=0
for f in /proc/[0-9]*/cmdline; do
  c=$(tr '\\0' ' ' < "$f" 2>/dev/null)
  case "$c" in *"$HF_TOKEN"*) n=$((n+1));; esac
done
echo "$n ${HF_TOKEN:+set}" > ~/secret-in-argv
"""


def test_cancel_ends_the_whole_process_tree(
    testhosts, roost_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(
        tmp_path,
        {
            "name": "cancel",
            "backend": "ssh",
            "hosts": [ssh_host(testhosts, 1)],
            "run": "sleep 3001 & sleep 3002 & echo started; wait",
            "secrets": ["HF_TOKEN"],
            "setup": SECRET_IN_ARGV,
        },
    )
    monkeypatch.setenv("HF_TOKEN", "hf-secret-for-setup")
    roost.up(spec)
    # setup saw the secret in its environment, and no command line on the machine held it
    assert (testhosts.home_of(testhosts.hosts[1]) / "secret-in-argv").read_text() == "0 set\n"
    # a command and a job of 1 MB run (an argument may hold only 128 KiB): they travel on stdin / as a file
    huge = "#" + "x" * 1_000_000 + "\necho huge-ran"
    assert roost.exec("cancel", huge).stdout == "huge-ran\n"
    from roost.machine.state import State
    from roost.session import open_session

    state = State()
    agent = open_session(state, "cancel").agent
    state.close()
    from roost.agent.client import JobRequest

    big_job = agent.submit_job(JobRequest(command=huge))
    wait_for(lambda: agent.job(big_job).ended, what="the 1 MB job")
    assert agent.job(big_job).state == "succeeded"
    job = agent.submit_job(JobRequest(command="sleep 3001 & sleep 3002 & echo started; wait"))
    count = "ps -eo args | grep -c '^sleep 300[12]'"
    wait_for(lambda: roost.exec("cancel", count).stdout.strip() == "2", what="the job's processes")
    assert roost.cancel("cancel", job)
    assert roost.exec("cancel", count).stdout.strip() == "0"
    assert wait_for(lambda: roost.jobs("cancel")[-1].state == "cancelled", what="cancelled state")
    assert not roost.cancel("cancel", job)  # already ended


def test_autostop_fires_on_an_idle_host_and_not_on_a_busy_one(testhosts, roost_home: Path, tmp_path: Path) -> None:
    idle = write_spec(tmp_path, {"name": "idle", "backend": "ssh", "hosts": [ssh_host(testhosts, 2)], "autostop": "2s"})
    busy = write_spec(
        tmp_path,
        {
            "name": "busy",
            "backend": "ssh",
            "hosts": [ssh_host(testhosts, 1)],
            "autostop": "2s",
            "run": "sleep 6; echo done",
        },
    )
    roost.up(idle)
    proc = subprocess.Popen(
        [*ROOST, "run", str(busy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    wait_for(lambda: roost.status("idle")[0].state is MachineState.STOPPED, timeout=20, what="idle autostop")
    assert roost.status("idle")[0].stopped_by == "autostop"
    assert roost.status("busy")[0].state is MachineState.RUNNING  # its job still runs
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "done" in out
    wait_for(lambda: roost.status("busy")[0].state is MachineState.STOPPED, timeout=20, what="busy autostop")
    # a stopped machine comes back with `roost up`
    assert roost.up(idle).name == "idle" and roost.status("idle")[0].state is MachineState.RUNNING


def test_the_training_example_runs_as_it_is(roost_home: Path, tmp_path: Path) -> None:
    """examples/train on the local backend: PyTorch on sklearn's digits, model downloaded."""
    import json

    result = subprocess.run(
        [*ROOST, "run", str(REPO / "examples" / "train" / "train.yaml"), "--down"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 10/10" in result.stdout and "machine taken down" in result.stdout
    [job_dir] = (tmp_path / "roost-outputs").iterdir()
    metrics = json.loads((job_dir / "model" / "metrics.json").read_text())
    assert metrics["epochs"] == 10 and metrics["test_accuracy"] > 0.85
    assert (job_dir / "model" / "model.pt").stat().st_size > 1000
    assert roost.status() == []


RESUMABLE = """
import os, pathlib, socket, time
mark = pathlib.Path(os.environ["ROOST_CHECKPOINT_DIR"]) / "epoch"
start = int(mark.read_text()) if mark.exists() else 0
if start:
    print(f"resumed after epoch {start}", flush=True)
for epoch in range(start + 1, 9):
    time.sleep(0.6)
    tmp = mark.with_suffix(".tmp")
    tmp.write_text(str(epoch))
    tmp.rename(mark)
    print(f"epoch {epoch} on {socket.gethostname()}", flush=True)
print("finished", flush=True)
"""


def test_recovery_resumes_from_the_checkpoint_on_another_host(testhosts, roost_home: Path, tmp_path: Path) -> None:
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "train.py").write_text(RESUMABLE)
    first, second = testhosts.hosts[0], testhosts.hosts[1]
    spec = write_spec(
        tmp_path,
        {
            "name": "recover",
            "backend": "ssh",
            "workdir": "job",
            "run": "python3 train.py",
            "recover": True,
            "checkpoint_every": "0.5s",
            "hosts": [ssh_host(testhosts, 0), ssh_host(testhosts, 1)],
        },
    )
    proc = Streamed([*ROOST, "run", str(spec)], env=dict(os.environ))
    try:
        proc.wait_for_line(lambda line: line.startswith("epoch 3 "), timeout=240)
        testhosts.stop(first.index)  # the machine is lost mid-job
        code = proc.finish(timeout=240)
    finally:
        testhosts.start(first.index)
        proc.stop()
    lines, err = proc.lines, proc.err
    assert code == 0, err
    assert f"recovering on {second.ip}" in err
    resumed = next(line for line in lines if line.startswith("resumed after epoch"))
    done_before = int(resumed.split()[-1])
    assert done_before >= 2  # the checkpoint came along
    after = lines[lines.index(resumed) + 1 :]
    epochs_after = [int(line.split()[1]) for line in after if line.startswith("epoch ")]
    assert epochs_after == list(range(done_before + 1, 9))  # nothing done before was redone
    assert all(second.name in line for line in after if line.startswith("epoch "))
    assert after[-2:] == ["finished\n", "job 0001 succeeded (exit code 0)\n"]


def test_multi_node_job_ends_together_when_one_node_fails(roost_home: Path, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "node.sh").write_text(
        'echo "rank $ROOST_NODE_RANK/$ROOST_NUM_NODES ips=$ROOST_NODE_IPS master=$MASTER_ADDR:$MASTER_PORT"\n'
        'if [ "$ROOST_NODE_RANK" = 1 ]; then exit 5; fi\nsleep 3003\n'
    )
    spec = write_spec(tmp_path, {"name": "multi", "num_nodes": 2, "workdir": "p", "run": "sh node.sh"})
    result = subprocess.run(
        [*ROOST, "run", str(spec)], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert result.returncode == 5, result.stderr
    assert "[node 0] rank 0/2 ips=127.0.0.1,127.0.0.1 master=127.0.0.1:" in result.stdout
    assert "[node 1] rank 1/2" in result.stdout and "cancelling the others" in result.stderr
    assert [j.state for j in roost.jobs("multi-0")] == ["cancelled"]
    assert [j.state for j in roost.jobs("multi-1")] == ["failed"]
    assert not any(b"sleep\x003003" in cmdline for cmdline in cmdlines())  # node 0's job tree ended


@pytest.mark.parametrize("nodes", [1, 2])
def test_a_log_cut_short_picks_up_where_it_stopped(nodes: int, roost_home: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    run = f"echo before; while [ ! -e {go} ]; do sleep 0.1; done; echo after"
    spec = write_spec(tmp_path, {"name": "cut", "num_nodes": nodes, "run": run})
    last = f"[node {nodes - 1}] " if nodes > 1 else ""  # the last node's lines, prefixed when there are several
    machine = b"cut-1" if nodes > 1 else b"cut"
    proc = Streamed([*ROOST, "run", str(spec)], env=dict(os.environ))
    try:
        proc.wait_for_line(lambda line: line == f"{last}before\n", timeout=120)
        # the process that streams the last node's log ends mid-job (as a dropped connection would)
        below = descendants(proc.proc.pid)
        streams = [pid for pid in below if b"job-logs" in cmdline(pid) and machine + b"/" in cmdline(pid)]
        assert len(streams) == 1, [cmdline(pid) for pid in below]
        os.kill(streams[0], signal.SIGKILL)
        go.touch()
        assert proc.finish(timeout=120) == 0, proc.err
    finally:
        proc.stop()
    for prefix in [f"[node {rank}] " for rank in range(nodes)] if nodes > 1 else [""]:
        # every line once: the stream went on from the byte it had reached
        assert [line for line in proc.lines if line.startswith(prefix) and not line.startswith("job ")] == [
            f"{prefix}before\n",
            f"{prefix}after\n",
        ], proc.out
    assert "log stopped" not in proc.err


def descendants(root: int) -> list[int]:
    """The PIDs of every process below ``root`` (its children, theirs, ...)."""
    parents: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cmdline(pid: int) -> bytes:
    """A process's argv as /proc shows it (empty once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cmdlines() -> list[bytes]:
    """Every running process's argv as /proc shows it."""
    return [cmdline(int(pid)) for pid in os.listdir("/proc") if pid.isdigit()]


def test_down_also_when_setup_fails(roost_home: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"name": "badsetup", "setup": "echo broken >&2; exit 9", "run": "true"})
    with pytest.raises(roost.RoostError, match="setup.*exit code 9"):
        roost.run(spec, down=True)
    assert roost.status() == [] and not (roost_home / "machines" / "badsetup").exists()


def test_nodes_come_up_side_by_side_and_one_that_cannot_takes_the_others_down(
    testhosts, roost_home: Path, tmp_path: Path
) -> None:
    impostor = {**ssh_host(testhosts, 0), "host_key": testhosts.hosts[1].host_key_fingerprint}
    hosts = [ssh_host(testhosts, 0), ssh_host(testhosts, 1), ssh_host(testhosts, 2), impostor]
    spec = write_spec(tmp_path, {"name": "four", "backend": "ssh", "num_nodes": 4, "run": "true", "hosts": hosts})
    result = subprocess.run(
        [*ROOST, "run", str(spec)], capture_output=True, text=True, env=dict(os.environ), timeout=600
    )
    assert result.returncode == 1, result.stderr
    assert "✗ four-3: provision" in result.stderr and "SECURITY WARNING" in result.stderr, result.stderr
    for rank in range(3):  # each node's own rows, then taken down because four-3 did not come up
        assert f"✓ four-{rank}: start agent" in result.stderr, result.stderr
        assert f"four-{rank} taken down: four-3 did not come up" in result.stderr, result.stderr
    assert roost.status() == []
    for host in testhosts.hosts:  # nothing left on any host
        assert not list(testhosts.home_of(host).glob(".roost/machines/four-*")), host
