"""The local runner: one Result type, failures carry it, timeouts end the whole tree."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from roost.errors import CommandFailed, CommandTimeout, RoostError
from roost.transport.base import Result
from roost.transport.local import LocalRunner


def test_result_has_output_exit_code_and_duration() -> None:
    result = LocalRunner().run("echo out; echo err >&2; exit 3", check=False)
    assert isinstance(result, Result)
    assert (result.stdout, result.stderr, result.exit_code, result.ok) == ("out\n", "err\n", 3, False)
    assert result.duration > 0


def test_failure_raises_one_type_with_result_and_output_tail() -> None:
    with pytest.raises(CommandFailed) as caught:
        LocalRunner().run(["sh", "-c", "for i in $(seq 1 50); do echo line$i >&2; done; exit 4"])
    error = caught.value
    assert isinstance(error, RoostError) and error.result.exit_code == 4
    message = str(error)
    assert "exit code 4" in message and "line50" in message and "line1\n" not in message  # only the tail


def test_stdin_env_and_cwd(tmp_path: Path) -> None:
    result = LocalRunner().run("cat; echo $GREETING; pwd", stdin=b"secret\n", env={"GREETING": "hi"}, cwd=str(tmp_path))
    assert result.stdout == f"secret\nhi\n{tmp_path}\n"


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        LocalRunner().run(f"sleep 60 & echo $! > {marker}; wait", timeout=0.5)
    assert time.monotonic() - started < 10
    assert caught.value.result.exit_code != 0
    child = int(marker.read_text())
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z"


def test_streaming_output_arrives_line_by_line() -> None:
    lines: list[str] = []
    LocalRunner().run("echo a; echo b", on_output=lines.append)
    assert lines == ["a\n", "b\n"]


def test_write_file_is_atomic_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "config.json"
    LocalRunner().write_file(str(target), b"{}", mode=0o600)
    assert target.read_bytes() == b"{}" and target.stat().st_mode & 0o777 == 0o600
    LocalRunner().write_file(str(target), b"[1]", mode=0o644)
    assert target.read_bytes() == b"[1]" and target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]  # no temp files left


def test_a_command_in_a_folder_that_is_gone_says_so(tmp_path: Path) -> None:
    from roost.errors import HostUnreachable

    gone = tmp_path / "machine"
    with pytest.raises(HostUnreachable, match="is gone: was the machine taken down"):
        LocalRunner(cwd=str(gone)).run(["true"])


def test_a_file_written_over_ssh_is_whole_or_not_there(tmp_path: Path) -> None:
    from roost.transport.ssh.runner import write_script

    target = tmp_path / "agent" / "roost_agent.pyz"
    data = b"PK" + os.urandom(4096)
    # the connection ended the copy early: cat exits 0 on a short input, the file must not appear
    short = LocalRunner().run(write_script(str(target), len(data), 0o700), stdin=data[:1000], check=False)
    assert short.exit_code == 1 and "short copy" in short.stderr
    assert not target.exists() and list(target.parent.iterdir()) == []
    empty = LocalRunner().run(write_script(str(target), len(data), 0o700), stdin=b"", check=False)
    assert empty.exit_code == 1 and not target.exists()
    LocalRunner().run(write_script(str(target), len(data), 0o700), stdin=data)
    assert target.read_bytes() == data and target.stat().st_mode & 0o777 == 0o700
