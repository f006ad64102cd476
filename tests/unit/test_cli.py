"""The CLI: clear errors, never a traceback, nothing created for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOST = [sys.executable, "-m", "roost"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOST, *args], capture_output=True, text=True, env=dict(os.environ), cwd=cwd, timeout=60)


def test_bad_spec_file_is_one_clear_line_not_a_traceback(roost_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "nb.yaml"
    spec.write_text("name: nb\napp: jupyter\nresources:\n  cpu: 2\n")
    result = cli("up", str(spec))
    assert result.returncode == 1
    assert f"error: {spec}:4: field 'resources.cpu': unknown field 'cpu'" in result.stderr
    assert "did you mean 'cpus'?" in result.stderr and "Traceback" not in result.stderr
    assert not (roost_home / "machines").exists()


def test_a_tensorboard_logdir_outside_the_workdir_creates_nothing(roost_home: Path, tmp_path: Path) -> None:
    for logdir in ("../elsewhere", "/var/log", "~/runs"):
        spec = tmp_path / "tb.yaml"
        spec.write_text(f"name: tb\napp:\n  type: tensorboard\n  logdir: '{logdir}'\n")
        result = cli("up", str(spec))
        assert result.returncode == 1 and f"{spec}:4: field 'app.logdir'" in result.stderr, result.stderr
        assert f"logdir '{logdir}' is not a folder inside the workdir" in result.stderr
    assert cli("status", "--json").stdout.strip() == "[]"


def test_missing_secret_is_named_and_never_echoed(roost_home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\napp: jupyter\nsecrets: [ROOST_TEST_TOKEN]\n")
    result = cli("up", str(spec))
    assert result.returncode == 1 and f"{spec}: field 'secrets': secret ROOST_TEST_TOKEN is not set" in result.stderr


def test_unknown_machine_is_a_clear_error(roost_home: Path) -> None:
    for verb in ("stop", "start", "down", "open", "logs", "password"):
        result = cli(verb, "ghost")
        assert result.returncode == 1, verb
        assert "no machine named 'ghost'" in result.stderr and "Traceback" not in result.stderr, verb


def test_unknown_app_name_lists_the_choices(roost_home: Path) -> None:
    result = cli("up", "jupiter")
    assert result.returncode == 1 and "unknown app 'jupiter'" in result.stderr and "jupyter" in result.stderr


def test_bad_machine_name_on_the_command_line(roost_home: Path) -> None:
    result = cli("up", "jupyter", "--name", "Not_Valid")
    assert result.returncode == 1 and "<command line>: field 'name': value 'Not_Valid'" in result.stderr


def test_importing_roost_imports_no_cloud_sdk() -> None:
    code = "import roost, roost.cli, roost.lifecycle.machines, roost.lifecycle.info, sys; print('boto3' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_bug_says_so_and_keeps_its_traceback_and_bad_input_prints_none(tmp_path) -> None:
    """Only a bug prints a traceback (and says where it is kept); a user's mistake is one message."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ROOST_HOME": str(tmp_path / "home")}
    crash = (
        "import sys, roost, roost.cli; roost.status = lambda *a, **k: {}['not-there']; "
        "sys.argv = ['roost', 'status']; roost.cli.main()"
    )
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 70 and "Traceback" in done.stderr and "KeyError: 'not-there'" in done.stderr
    assert "this is a bug in roost" in done.stderr
    logs = list((tmp_path / "home" / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in done.stderr and "KeyError" in logs[0].read_text()
    assert logs[0].stat().st_mode & 0o777 == 0o600
    (tmp_path / "file").write_text("")
    for args, extra in (
        (["status"], {"ROOST_HOME": str(tmp_path / "file")}),
        (["up", str(tmp_path / "nope.yaml")], {}),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "roost", *args], capture_output=True, text=True, env={**env, **extra}, timeout=60
        )
        assert bad.returncode == 1 and "Traceback" not in bad.stderr and "error:" in bad.stderr, bad.stderr


def test_status_lists_many_machines_in_aligned_columns(roost_home: Path) -> None:
    from roost.lifecycle.machines import _new_record
    from roost.machine.state import State
    from roost.spec.loader import spec_for_app

    roost_home.mkdir(mode=0o700)
    state = State(roost_home)
    for name in ("a", "a-much-longer-name", *(f"m{index:03d}" for index in range(200))):
        state.save(_new_record(spec_for_app("jupyter", name)))  # folders that do not exist: terminated
    state.close()
    result = cli("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 203 and lines[0].split() == ["NAME", "BACKEND", "STATE", "GPUS", "APP", "HEALTHY", "URL"]
    column = lines[0].index("BACKEND")
    assert all(line[column:].startswith("local  ") for line in lines[1:]), lines[:3]
    assert lines[1].split() == ["a", "local", "terminated", "0", "jupyter", "no", "-"]
    assert {line.split()[0] for line in lines[1:]} == {"a", "a-much-longer-name"} | {f"m{i:03d}" for i in range(200)}


def test_up_reads_its_arguments_without_typer_and_leaves_the_rest_to_it(roost_home: Path) -> None:
    from roost.cli.quick_up import UpArgs, parse_up

    assert parse_up(["jupyter"]) == UpArgs("jupyter")
    assert parse_up(["spec.yaml", "-n", "nb", "-y"]) == UpArgs("spec.yaml", "nb", yes=True)
    assert parse_up(["--name=nb", "--accept-new-host-key", "spec.yaml", "--yes"]) == UpArgs(
        "spec.yaml", "nb", True, True
    )
    for unsure in (
        [],
        ["--help"],
        ["a", "b"],
        ["jupyter", "--name"],
        ["jupyter", "-n", "--yes"],
        ["jupyter", "--nmae", "x"],
    ):
        assert parse_up(unsure) is None, unsure
    # the quick path, end to end, never loads typer; its errors read as the full CLI's
    probe = (  # the exit hooks still run at the end (the CLI skips only Python's teardown)
        "import atexit, sys, roost.cli; sys.argv = ['roost', 'up', 'jupiter']; "
        "atexit.register(lambda: print('typer loaded:', 'typer' in sys.modules, file=sys.stderr)); roost.cli.main()"
    )
    quick = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )
    assert quick.returncode == 1 and "unknown app 'jupiter'" in quick.stderr
    assert quick.stderr.splitlines()[-1] == "typer loaded: False"
    # what it does not know, typer answers as before
    typo = cli("up", "jupyter", "--nmae", "x")
    assert typo.returncode == 2 and "No such option: --nmae" in typo.stderr
