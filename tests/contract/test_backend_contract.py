"""One contract, every backend: the same user-visible behaviour on local and SSH machines.

Each backend runs the whole walk once (a small web app from a command, so the contract is
about the backend, not about installing an app): up, idempotent up, exec, sync, download,
logs, app restart on crash, stop, start, down.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import roost
from roost.errors import CommandTimeout
from roost.session import load_session
from tests.helpers import http_get as get
from tests.helpers import port_open, wait_for

APP = {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1", "health_path": "/"}


@pytest.fixture(params=["local", "ssh"])
def spec_file(request, roost_home: Path, tmp_path: Path) -> Path:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "hello.txt").write_text("hello v1")
    (workdir / ".gitignore").write_text("secret-notes.txt\n")
    (workdir / "secret-notes.txt").write_text("never uploaded")
    spec = {"name": f"contract-{request.param}", "backend": request.param, "app": APP, "workdir": "project"}
    if request.param == "ssh":
        hosts = request.getfixturevalue("testhosts")
        host = hosts.hosts[1]
        spec["hosts"] = [
            {
                "address": host.ip,
                "user": host.user,
                "key": host.key,
                "host_key": host.host_key_fingerprint,
                "connect_timeout": 5,
            }
        ]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_backend_contract(spec_file: Path, tmp_path: Path) -> None:
    name = yaml.safe_load(spec_file.read_text())["name"]

    # up: the app answers through the URL roost gives, serving the synced workdir
    result = roost.up(spec_file)
    assert get(result.url + "hello.txt") == (200, "hello v1")
    assert get(result.url + "secret-notes.txt")[0] == 404  # .gitignore respected

    # idempotent up
    again = roost.up(spec_file)
    assert again.already_up and again.url == result.url

    # exec: runs in the workdir, returns exit code and output
    ran = roost.exec(name, "cat hello.txt; echo oops >&2; exit 7")
    assert (ran.exit_code, ran.stdout, ran.stderr) == (7, "hello v1", "oops\n")

    # a command past its timeout is killed: the runner raises CommandTimeout with the output so
    # far, exec reports it, and the next command still runs
    session = load_session(name)
    runner = session.backend.runner(session.record)
    with pytest.raises(CommandTimeout) as timed:
        runner.run("echo started; sleep 10", timeout=1)
    assert timed.value.result.timed_out and timed.value.result.stdout == "started\n"
    slow = roost.exec(name, "sleep 10", timeout=1)
    assert slow.timed_out and not slow.ok
    assert runner.run("echo still here").stdout == "still here\n"

    # sync: a change goes up, incrementally
    (spec_file.parent / "project" / "hello.txt").write_text("hello v2")
    roost.sync(name)
    assert get(result.url + "hello.txt") == (200, "hello v2")

    # download: a file made on the machine comes down
    roost.exec(name, "mkdir -p out && echo model-bytes > out/model.bin")
    got = roost.download(name, "out", tmp_path / "downloads")
    assert (got / "model.bin").read_text() == "model-bytes\n"

    # logs
    lines: list[str] = []
    roost.logs(name, lines=50, on_output=lines.append)
    assert any("GET /hello.txt" in line for line in lines)

    # app restart on crash
    [before] = roost.status(name)
    roost.exec(name, f"kill -9 {before.app_pid}")
    after = wait_for(
        lambda: (s := roost.status(name)[0]).healthy and s.app_pid != before.app_pid and s, what="the app restarted"
    )
    assert after.restarts == 1 and get(result.url + "hello.txt")[0] == 200

    # stop: the app stops answering, files stay; start: back with the same URL and files
    roost.stop(name)
    assert roost.status(name)[0].state.value == "stopped"
    assert not port_open(result.url) or get(result.url)[0] == 0
    assert roost.exec(name, "cat out/model.bin").stdout == "model-bytes\n"
    started = roost.start(name)
    assert started.url == result.url and get(result.url + "hello.txt") == (200, "hello v2")

    # down: nothing of it is left
    roost.down(name)
    assert roost.status() == []
    with pytest.raises(roost.RoostError, match=f"no machine named '{name}'"):
        roost.exec(name, "true")
