"""roost's own files written by several threads at once (a multi-node up brings its machines up
side by side): every writer finishes, every reader sees one whole value, no temporary is left."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from roost.backends.aws.keys import owner_id, pin_host_key, unpin_host_key
from roost.paths import create_once, write_private

THREADS = 16


def _all_at_once(work) -> list:  # type: ignore[no-untyped-def]
    start = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list[BaseException] = []

    def one(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:  # any failure of any thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def test_the_owner_tag_asked_for_by_many_nodes_at_once_is_one_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for round_ in range(5):
        home = tmp_path / f"home{round_}"
        monkeypatch.setenv("ROOST_HOME", str(home))
        owners = _all_at_once(lambda _: owner_id())
        assert len(set(owners)) == 1 and owners[0]
        assert (home / "owner").read_text().strip() == owners[0]
        assert sorted(path.name for path in home.iterdir() if "owner" in path.name) == ["owner"]


def test_a_file_written_by_many_at_once_is_one_writers_whole_content(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    values = [f"value-{index}-".encode() * 1000 for index in range(THREADS)]
    _all_at_once(lambda index: write_private(path, values[index]))
    assert path.read_bytes() in values
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [each.name for each in tmp_path.iterdir()] == ["secret"]

    made = tmp_path / "made"
    seen = _all_at_once(lambda index: create_once(made, values[index]))
    assert len(set(seen)) == 1 and seen[0] in values and made.read_bytes() == seen[0]
    assert sorted(each.name for each in tmp_path.iterdir()) == ["made", "secret"]


def test_host_keys_pinned_by_many_nodes_at_once_are_all_kept(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("[10.0.0.9]:22 ssh-ed25519 AAAAsomeoneelse\n")
    keys = {f"roost-node-{index}": f"ssh-ed25519 AAAA{index:04d}" for index in range(THREADS)}
    aliases = sorted(keys)

    def pin_then_repin(index: int) -> None:
        pin_host_key(known_hosts, aliases[index], "ssh-ed25519 AAAAfromuserdata")
        pin_host_key(known_hosts, aliases[index], keys[aliases[index]])  # the machine's own key

    _all_at_once(pin_then_repin)
    lines = known_hosts.read_text().splitlines()
    assert sorted(lines) == sorted(
        ["[10.0.0.9]:22 ssh-ed25519 AAAAsomeoneelse"] + [f"{a} {k}" for a, k in keys.items()]
    )
    assert stat.S_IMODE(known_hosts.stat().st_mode) == 0o600

    _all_at_once(lambda index: unpin_host_key(known_hosts, aliases[index]) if index % 2 else None)
    left = known_hosts.read_text().splitlines()
    assert sorted(left) == sorted(
        ["[10.0.0.9]:22 ssh-ed25519 AAAAsomeoneelse"] + [f"{a} {keys[a]}" for i, a in enumerate(aliases) if i % 2 == 0]
    )
