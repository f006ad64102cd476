"""The spec: valid files parse into typed models; bad ones give errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.errors import SpecError
from roost.spec.loader import load_spec, spec_for_app
from roost.spec.model import BackendKind, JupyterApp


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_full_spec_parses_into_typed_models(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            """
name: gpu-notebook
backend: aws
resources:
  cpus: 4+
  memory: 16GiB
  accelerators: T4:1
  spot: true
  disk_gb: 100
app:
  type: jupyter
  version: 4.6.6
  packages: [numpy]
workdir: .
envs: {EPOCHS: 3, DEBUG: true}
secrets: [HF_TOKEN]
ports: [6006]
autostop: 30m
""",
        )
    )
    assert spec.backend is BackendKind.aws
    assert spec.resources.cpus == 4
    assert spec.resources.memory_gib == 16
    assert spec.resources.accelerators is not None
    assert (spec.resources.accelerators.name, spec.resources.accelerators.count) == ("T4", 1)
    assert isinstance(spec.app, JupyterApp) and spec.app.packages == ["numpy"]
    assert spec.envs == {"EPOCHS": "3", "DEBUG": "true"}
    assert spec.autostop is not None and spec.autostop.idle_seconds == 1800


def test_app_shorthand_and_defaults() -> None:
    spec = spec_for_app("jupyter")
    assert spec.name == "jupyter" and spec.backend is BackendKind.local
    assert isinstance(spec.app, JupyterApp)


def test_memory_in_mib_and_count_only_accelerators(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "name: a\nresources: {memory: 512MiB, accelerators: 2}\n"))
    assert spec.resources.memory_gib == 0.5
    assert spec.resources.accelerators is not None and spec.resources.accelerators.count == 2


# (spec text, expected line, fragments the message must contain)
BAD_SPECS = [
    ("name: nb\nresorces:\n  cpus: 2\n", 2, ["unknown field 'resorces'", "did you mean 'resources'"]),
    ("name: nb\napp:\n  type: jupyter\n  verison: 4\n", 4, ["field 'app.verison'", "did you mean 'version'"]),
    ("name: nb\nresources:\n  cpus: many\n", 3, ["field 'resources.cpus'", "'many'", "valid integer"]),
    ("name: nb\nresources:\n  cpus: 0\n", 3, ["resources.cpus", "greater than or equal to 1"]),
    ("name: nb\nresources:\n  accelerators: 'T4:x'\n", 3, ["resources.accelerators", "'T4:x'", "T4:1"]),
    ("name: nb\nresources:\n  memory: lots\n", 3, ["resources.memory", "'lots'", "16GiB"]),
    ("name: nb\nbackend: gcp\n", 2, ["field 'backend'", "'gcp'", "'local', 'ssh' or 'aws'"]),
    ("name: nb\napp: jupiter\n", 2, ["field 'app'", "unknown app 'jupiter'", "jupyter"]),
    ("name: nb\napp:\n  type: notebook\n", 3, ["field 'app.type'", "unknown app type 'notebook'", "label-studio"]),
    ("name: My_Notebook\napp: jupyter\n", 1, ["field 'name'", "'My_Notebook'", "lowercase letters"]),
    ("app: jupyter\n", None, ["'name' is required", "add 'name:'"]),
    ("name: nb\nautostop: soon\n", 2, ["field 'autostop", "'soon' is not a duration", "30m"]),
    ("name: nb\nenvs:\n  1BAD: x\n", 3, ["field 'envs'", "'1BAD' is not a valid environment variable name"]),
    ("name: nb\nsecrets: [HF-TOKEN]\n", 2, ["field 'secrets'", "'HF-TOKEN' is not a valid secret name"]),
    ("name: nb\nports: [80, 99999]\n", 2, ["field 'ports.1'", "99999", "less than or equal to 65535"]),
    ("name: nb\napp:\n  type: jupyter\n  port: 80\n", 4, ["field 'app.port'", "80", "greater than or equal to 1024"]),
    ("name: nb\nresources:\n  disk_gb: 2\n", 3, ["resources.disk_gb", "greater than or equal to 8"]),
    ("name: nb\nenvs: {A: 1}\nsecrets: [A]\n", None, ["['A'] appear in both envs and secrets"]),
    ("name: nb\nresources: {placement: cluster}\nnum_nodes: 2\n", None, ["placement: cluster", "'aws', not 'local'"]),
    ("name: nb\nbackend: aws\nresources: {placement: cluster}\n", None, ["placement: cluster", "num_nodes > 1"]),
    ("name: nb\nresources: {placement: rack}\n", 2, ["resources.placement", "'rack'", "'cluster'"]),
    ("name: nb\n  app: jupyter\n", 2, ["not valid YAML", "indentation"]),
    ("- name: nb\n", 1, ["a spec must be a mapping"]),
    ("", None, ["the file is empty"]),
]


@pytest.mark.parametrize(("text", "line", "fragments"), BAD_SPECS, ids=[str(i) for i in range(len(BAD_SPECS))])
def test_bad_spec_names_file_line_field_and_fix(
    tmp_path: Path, text: str, line: int | None, fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    where = f"{path}:{line}:" if line else f"{path}"
    assert message.startswith(where), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="(?s)no such file.*app name such as 'jupyter'"):
        load_spec(tmp_path / "nope.yaml")


def test_several_problems_are_all_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "name: nb\nresorces: {}\nbackend: gcp\n"))
    assert "and 1 more problem" in str(caught.value)
