"""Shared fixtures: an isolated ROOST_HOME per test and one uv cache for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# One uv cache for every test (and the Makefile's): the second machine installs offline.
os.environ.setdefault("UV_CACHE_DIR", str(REPO / ".cache" / "uv"))


@pytest.fixture
def roost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh ROOST_HOME; every machine left in it is taken down afterwards."""
    home = tmp_path / "roost-home"
    monkeypatch.setenv("ROOST_HOME", str(home))
    yield home
    _down_everything(home)


def _down_everything(home: Path) -> None:
    if not (home / "state.db").exists():
        return
    import roost
    from roost.state import State

    state = State(home)
    names = [record.name for record in state.machines()]
    state.close()
    for name in names:
        try:
            roost.down(name)
        except roost.RoostError:
            pass
