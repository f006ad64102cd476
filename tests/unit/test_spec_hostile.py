"""Hostile and broken spec files: each refused with one SpecError naming the file and line,
fast, never a traceback (a property-based test feeds the loader mutated specs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.errors import SpecError
from roost.spec.loader import MAX_SPEC_BYTES, load_spec
from roost.spec.model import Spec

VALID = """name: team
app:
  type: label-studio
  database: postgres
backend: ssh
hosts:
  - {address: 10.0.0.5, user: ubuntu, key: ~/.ssh/id}
envs: {EPOCHS: 3, DEBUG: true}
secrets: [HF_TOKEN]
setup: |
  pip install -r requirements.txt
backup: {every: 1h, keep: 3}
backup_to: s3://bucket/prefix
share: true
"""


def refused(tmp_path: Path, text: str | bytes) -> SpecError:
    path = tmp_path / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_an_alias_bomb_of_a_few_hundred_bytes_is_refused(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]
    text = "name: x\napp: jupyter\nenvs:\n" + "".join(f"  {line}\n" for line in levels)
    assert len(text) < 500
    error = refused(tmp_path, text)
    assert "expands to more than 20000 values (YAML aliases?)" in str(error)


def test_a_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    error = refused(tmp_path, "name: x\napp: jupyter\nshare: true\napp: streamlit\n")
    assert "key 'app' is given twice: on line 2 and line 4" in str(error) and error.line == 4
    nested = refused(tmp_path, "name: x\napp:\n  type: jupyter\n  type: streamlit\n")
    assert "key 'type' is given twice: on line 3 and line 4" in str(nested)


def test_control_characters_and_nul_are_named(tmp_path: Path) -> None:
    raw = refused(tmp_path, "name: x\napp: jupyter\nsetup: echo \x01hi\n")
    assert "control character '\\x01' in the file" in str(raw) and raw.line == 3
    escaped = refused(tmp_path, 'name: x\napp: jupyter\nworkdir: "proj\\0ect"\n')
    assert "control character in the value" in str(escaped) and escaped.field == "workdir"
    assert "not UTF-8 text (byte 0xff)" in str(refused(tmp_path, b"name: x\napp: \xff\n"))
    assert "nested too deeply" in str(refused(tmp_path, "name: x\nenvs: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_a_spec_past_the_size_limit_is_refused_and_a_megabyte_of_setup_is_not(tmp_path: Path) -> None:
    big_setup = "name: x\napp: jupyter\nsetup: |\n" + "  echo line\n" * 100_000
    assert len(big_setup) > 1_000_000
    path = tmp_path / "big.yaml"
    path.write_text(big_setup)
    assert len(load_spec(path).setup or "") >= 1_000_000
    error = refused(tmp_path, "name: x\napp: jupyter\n" + "#" * MAX_SPEC_BYTES)
    assert "larger than 4 MiB" in str(error)


MUTATIONS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(VALID)),
        st.integers(min_value=0, max_value=8),
        st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t\\0aZ9.") + ["\x00", "\x7f", "é"]), max_size=6),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MUTATIONS)
def test_mutated_specs_give_a_spec_or_a_spec_error_and_nothing_else(tmp_path: Path, edits) -> None:
    text = VALID
    for position, cut, insert in edits:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + cut :]
    path = tmp_path / "mutated.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        assert isinstance(load_spec(path), Spec)
    except SpecError as error:
        assert error.message  # one clear message; anything else raised fails the test


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("app: {type: jupyter, packages: [numpy, --index-url=http://x]}", "'--index-url=http://x' is not a package"),
        ("app: {type: streamlit, script: a.py, packages: ['-r /etc/passwd']}", "'-r /etc/passwd' is not a package"),
        ("backend: ssh\nhosts: [{address: -oProxyCommand=sh}]", "'-oProxyCommand=sh' is not a host address"),
        ("backend: ssh\nhosts: [{address: 10.0.0.5, user: -lroot}]", "'-lroot' is not a host address, alias or user"),
    ],
)
def test_what_would_become_a_command_option_is_refused(tmp_path: Path, text: str, words: str) -> None:
    assert words in str(refused(tmp_path, f"name: x\n{text}\n"))
