"""Jupyter on real SSH test hosts: air-gapped installs, tunnels, machine loss, partitions."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import roost
from roost.machine.record import MachineState
from tests.e2e.test_quick_cli import traced
from tests.helpers import answers
from tests.jupyter_client import JupyterSession

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def host_entry(host, **extra) -> dict:
    return {
        "address": host.ip,
        "user": host.user,
        "key": host.key,
        "host_key": host.host_key_fingerprint,
        "connect_timeout": 3,
        **extra,
    }


def write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def listeners(testhosts, host, port: int) -> set[str]:
    """The addresses the host listens on for ``port`` (from its own /proc/net/tcp)."""
    table = testhosts.root(host.index, "cat /proc/net/tcp /proc/net/tcp6").stdout
    found = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port:
                found.add("127.0.0.1" if address == "0100007F" else address)
    return found


def base_of(url: str) -> str:
    return url.rsplit("/lab", 1)[0]


def test_jupyter_on_an_air_gapped_host_survives_machine_loss(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[0]
    spec = write_spec(tmp_path, {"name": "gap", "backend": "ssh", "app": "jupyter", "hosts": [host_entry(host)]})
    run = subprocess.run([*ROOST, "up", str(spec)], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    # 'installs: auto' found no package index on the host and said so
    assert "cannot reach a package index" in run.stderr
    remote_roost = testhosts.home_of(host) / ".roost"
    assert list((remote_roost / "wheelhouse").glob("jupyterlab-4.6.6-*.whl"))
    assert list((remote_roost / "bin").glob("uv-*"))

    # reached through a local tunnel; the app itself listens on the host's 127.0.0.1 only
    url = run.stdout.split(": ", 1)[1].splitlines()[0]
    assert url.startswith("http://127.0.0.1:")
    password = roost.password("gap")
    session = JupyterSession(base_of(url))
    assert session.request("GET", "/api/status")[0] == 403 and session.login(password)
    definition = yaml.safe_load((remote_roost / "machines" / "gap" / "agent" / "apps" / "jupyter.json").read_text())
    assert listeners(testhosts, host, definition["port"]) == {"127.0.0.1"}
    assert session.save_text("data.txt", "survives machine loss") == 201

    # the whole machine dies: status says so
    testhosts.stop(host.index)
    [lost] = roost.status("gap")
    assert lost.state is MachineState.UNREACHABLE and not lost.healthy

    # it boots again: `roost up` brings the app back with its data, same URL and password
    testhosts.start(host.index)
    back = roost.up(spec)
    assert not back.already_up and back.url == url
    session = JupyterSession(base_of(url))
    assert session.login(password) and session.read_text("data.txt") == "survives machine loss"
    roost.down("gap")
    assert not (remote_roost / "machines" / "gap").exists()


def steps_done(roost_home: Path, machine: str) -> set[str]:
    db = roost_home / "state.db"
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db) as conn:
            return {
                row[0]
                for row in conn.execute("SELECT step FROM steps WHERE machine = ? AND status = 'done'", (machine,))
            }
    except sqlite3.OperationalError:  # roost is creating the database this very moment
        return set()


def test_partition_during_up_fails_clearly_and_heal_resumes(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[2]
    spec = write_spec(
        tmp_path,
        {"name": "cut", "backend": "ssh", "app": "jupyter", "installs": "wheelhouse", "hosts": [host_entry(host)]},
    )
    proc = subprocess.Popen(
        [*ROOST, "up", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 120
        while "provision" not in steps_done(roost_home, "cut"):
            assert proc.poll() is None and time.monotonic() < deadline, "up ended before it could be cut"
            time.sleep(0.02)
        testhosts.cut(host.index)
        cut_at = time.monotonic()
        _, err = proc.communicate(timeout=120)
        waited = time.monotonic() - cut_at
    finally:
        testhosts.heal(host.index) if proc.returncode is None else None
    assert proc.returncode == 1
    assert f"host {host.ip} during step '" in err and "cannot connect" in err, err
    assert waited < 30, f"the error took {waited:.0f}s"
    assert roost.status("cut")[0].state is MachineState.UNREACHABLE

    testhosts.heal(host.index)
    resumed = subprocess.run(
        [*ROOST, "up", str(spec)], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "provision ssh machine  (done before)" in resumed.stderr
    assert roost.status("cut")[0].healthy

    # roost exec rides the warm connection without loading the full CLI: streams and exit code kept
    ran, full = traced("exec", "cut", "--", "sh", "-c", "echo out; pwd; echo err >&2; exit 3")
    assert not full and ran.returncode == 3, ran.stderr
    assert ran.stdout.splitlines()[0] == "out" and ran.stdout.splitlines()[1].endswith("/workdir")
    assert ran.stderr.strip() == "err"
    testhosts.cut(host.index)
    try:
        lost, _ = traced("exec", "cut", "--", "true")
    finally:
        testhosts.heal(host.index)
    assert lost.returncode == 1 and "cannot connect" in lost.stderr, lost.stderr
    roost.down("cut")


def test_ssh_config_alias_and_tunnel_restart(testhosts, roost_home: Path, monkeypatch) -> None:
    import json
    import signal

    host = testhosts.hosts[1]
    # the alias comes from an ssh config (HostName, User, IdentityFile), as ~/.ssh/config would give it
    monkeypatch.setenv("ROOST_SSH_CONFIG", str(testhosts.directory / "ssh_config"))
    spec = roost.Spec.model_validate(
        {
            "name": "alias",
            "backend": "ssh",
            "app": {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"},
            "hosts": [{"address": host.name, "host_key": host.host_key_fingerprint}],
        }
    )
    result = roost.up(spec)
    assert answers(result.url)

    # the tunnel dies: roost open starts a new one on the same local port
    record = json.loads((roost_home / "tunnels" / "alias.json").read_text())
    os.kill(record["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while answers(result.url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not answers(result.url)
    reopened = roost.open_info("alias")
    assert reopened.url == result.url and answers(reopened.url)
    assert json.loads((roost_home / "tunnels" / "alias.json").read_text())["pid"] != record["pid"]

    roost.down("alias")
    assert not (roost_home / "tunnels" / "alias.json").exists() and not answers(result.url)


def test_interrupted_sync_never_replaces_a_good_file(testhosts, roost_home: Path, tmp_path: Path) -> None:
    import hashlib
    import signal

    host = testhosts.hosts[1]
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "data.bin").write_bytes(b"good version\n")
    spec = write_spec(
        tmp_path,
        {
            "name": "atomic",
            "backend": "ssh",
            "workdir": str(workdir),
            "app": {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"},
            "hosts": [host_entry(host)],
        },
    )
    roost.up(spec)
    remote = testhosts.home_of(host) / ".roost" / "machines" / "atomic" / "workdir"
    assert (remote / "data.bin").read_bytes() == b"good version\n"

    big = os.urandom(1 << 20) * 64  # 64 MiB, new content for the same file
    (workdir / "data.bin").write_bytes(big)
    testhosts.throttle(host.index, "40mbit")  # ~13 s for the file: time enough to interrupt it
    try:
        proc = subprocess.Popen(
            [*ROOST, "sync", "atomic"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
        )
        deadline = time.monotonic() + 60
        while not [p for p in remote.glob(".*") if p.name != ".gitignore"]:  # rsync's temporary file appeared
            assert proc.poll() is None and time.monotonic() < deadline, "the transfer ended before it was cut"
            time.sleep(0.005)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)  # Ctrl-C in the middle of the transfer
        proc.wait(timeout=30)
    finally:
        testhosts.throttle(host.index, None)
    assert proc.returncode != 0
    time.sleep(0.5)
    assert (remote / "data.bin").read_bytes() == b"good version\n"  # the good file is untouched

    roost.sync("atomic")
    assert hashlib.sha256((remote / "data.bin").read_bytes()).digest() == hashlib.sha256(big).digest()
    roost.down("atomic")


def test_a_connection_dropped_under_a_step_is_reopened_and_the_step_run_again(
    testhosts, roost_home: Path, tmp_path: Path
) -> None:
    """roost's master connection dies while `setup` runs (its ssh process killed, as a NAT or a
    flaky link would end it): the host still answers, so `roost up` reconnects and runs the
    step again instead of failing half-way."""
    from roost.transport.ssh.target import control_dir
    from tests.helpers import wait_for

    host = testhosts.hosts[1]
    home = testhosts.home_of(host)
    spec = write_spec(
        tmp_path,
        {
            "name": "flaky",
            "backend": "ssh",
            "hosts": [host_entry(host)],
            "setup": "echo started >> ~/flaky-starts; sleep 4; echo done >> ~/flaky-done",
        },
    )
    up = subprocess.Popen(
        [*ROOST, "up", str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        wait_for(lambda: (home / "flaky-starts").exists(), timeout=120, what="setup to start")
        masters = [
            int(pid.name)
            for pid in Path("/proc").iterdir()
            if pid.name.isdigit() and control_dir() in _cmdline(pid) and "[mux]" in _cmdline(pid)
        ]
        assert len(masters) == 1, masters  # the master roost opened for this ROOST_HOME
        os.kill(masters[0], 9)
        out, err = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, err
    assert "the connection dropped during 'run setup'" in err and "running the step again" in err, err
    assert (home / "flaky-starts").read_text().count("started") == 2  # the step ran again
    # sshd does not end a command without a terminal when its connection drops: the first run
    # went on to its end on the machine too (steps are safe to run again, as for a `roost up` rerun)
    assert (home / "flaky-done").read_text().count("done") == 2
    assert roost.status("flaky")[0].state is MachineState.RUNNING


def _cmdline(pid: Path) -> str:
    try:
        return (pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
