"""State: WAL SQLite with a schema version, atomic records, resumable steps, machine locks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roost.errors import LockTimeout, StateError
from roost.machine.record import MachineRecord, MachineState
from roost.machine.state import SCHEMA_VERSION, State, machine_lock
from roost.machine.steps import Step, run_steps
from roost.progress import SilentProgress
from roost.spec.loader import spec_for_app


def record(name: str = "nb") -> MachineRecord:
    now = time.time()
    return MachineRecord(
        name=name,
        backend="local",
        spec=spec_for_app("jupyter", name),
        state=MachineState.PROVISIONING,
        created_at=now,
        updated_at=now,
    )


def test_database_is_wal_private_and_versioned(tmp_path: Path) -> None:
    state = State(tmp_path)
    assert state.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert state.schema_version() == SCHEMA_VERSION
    assert (tmp_path / "state.db").stat().st_mode & 0o777 == 0o600
    state.save(record())  # a write, so the WAL and its index exist
    for name in ("state.db-wal", "state.db-shm"):  # they hold the same rows: private too
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    state.close()
    # opening again migrates nothing and keeps data
    State(tmp_path).close()
    # a home made open by someone else's umask is made private on the next use
    home = tmp_path / "open-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    import os

    os.environ["ROOST_HOME"], before = str(home), os.environ.get("ROOST_HOME")
    try:
        from roost.paths import roost_home

        assert roost_home().stat().st_mode & 0o777 == 0o700
    finally:
        os.environ.pop("ROOST_HOME") if before is None else os.environ.__setitem__("ROOST_HOME", before)


def test_record_round_trips_with_typed_spec(tmp_path: Path) -> None:
    state = State(tmp_path)
    saved = state.save(record())
    loaded = state.get("nb")
    assert loaded is not None and loaded.spec.same_as(saved.spec) and loaded.state is MachineState.PROVISIONING
    state.set_state("nb", MachineState.RUNNING)
    assert state.get("nb").state is MachineState.RUNNING  # type: ignore[union-attr]
    state.delete("nb")
    assert state.get("nb") is None and state.machines() == []


def test_spec_survives_the_database_exactly(tmp_path: Path) -> None:
    from roost.spec.loader import spec_from_data

    spec = spec_from_data(
        {"name": "nb", "app": "jupyter", "autostop": "90s", "resources": {"memory": "512MiB", "accelerators": "T4:2"}}
    )
    state = State(tmp_path)
    state.save(record().model_copy(update={"spec": spec}))
    assert state.get("nb").spec.same_as(spec)  # type: ignore[union-attr]


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(StateError, match="newer than this roost knows"):
        State(tmp_path)


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot use the state database"):
        State(tmp_path)


def test_interrupted_steps_resume_where_they_stopped(tmp_path: Path) -> None:
    state = State(tmp_path)
    ran: list[str] = []

    def boom() -> None:
        ran.append("b")
        raise RuntimeError("interrupted")

    steps = [Step("a", "a", lambda: ran.append("a"), inputs="1"), Step("b", "b", boom, inputs="1")]
    with pytest.raises(RuntimeError):
        run_steps(state, "nb", steps, SilentProgress())
    assert state.steps("nb") == {"a": "done", "b": "failed"}
    fixed = [
        steps[0],
        Step("b", "b", lambda: ran.append("b2"), inputs="1"),
        Step("c", "c", lambda: ran.append("c"), always=True),
    ]
    run_steps(state, "nb", fixed, SilentProgress())
    assert ran == ["a", "b", "b2", "c"]  # 'a' was not done again
    # changed inputs redo the step
    run_steps(state, "nb", [Step("a", "a", lambda: ran.append("a2"), inputs="2")], SilentProgress())
    assert ran[-1] == "a2"


HOLDER = """
import sys, time
from pathlib import Path
from roost.machine.state import machine_lock
with machine_lock("nb", home=Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_machine_lock_excludes_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout, match="another roost has been working on 'nb'"):
            with machine_lock("nb", home=tmp_path, timeout=0.5):
                pass
        with machine_lock("other", home=tmp_path, timeout=0.5):
            pass  # other machines are not blocked
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the dead holder's lock
    with machine_lock("nb", home=tmp_path, timeout=2):
        pass


def test_a_record_written_before_the_facts_were_split_still_reads(tmp_path: Path) -> None:
    """A state database from before facts had parts (app, gateway, service) keeps every fact."""
    state = State(tmp_path)
    state.save(record("old"))
    flat = ('{"home": "/srv/roost", "app_port": 8100, "gateway_health_port": 8200, "postgres_bindir": "/usr/lib/pg",'
            ' "replica_names": ["command-1"], "replica_ports": [8301], "route_ports": {"/api": 8400},'
            ' "replica_serial": 3}')  # fmt: skip
    state.db.execute("UPDATE machines SET facts_json = ? WHERE name = 'old'", (flat,))
    state.db.commit()
    facts = state.get("old").facts
    assert (facts.home, facts.app.port, facts.app.postgres_bindir) == ("/srv/roost", 8100, "/usr/lib/pg")
    assert facts.gateway.health_port == 8200
    assert (facts.service.replica_names, facts.service.replica_ports) == (["command-1"], [8301])
    assert (facts.service.route_ports, facts.service.replica_serial) == ({"/api": 8400}, 3)
    state.save(state.get("old"))  # written back in the new shape, read the same
    assert State(tmp_path).get("old").facts == facts
    state.close()


def test_a_late_update_does_not_bring_back_a_machine_taken_down_meanwhile(tmp_path: Path) -> None:
    state = State(tmp_path)
    seen = state.save(record("gone"))
    seen.state = MachineState.STOPPED
    assert state.update(seen) and state.get("gone").state == MachineState.STOPPED  # type: ignore[union-attr]
    state.delete("gone")  # another roost's `down`, while a status probe still held the record
    assert not state.update(seen)
    assert state.get("gone") is None and state.machines() == []
    state.close()


def test_a_probe_never_overwrites_a_stop_made_while_it_asked_the_machine(tmp_path: Path) -> None:
    state = State(tmp_path)
    state.save(record("busy"))
    probed = state.get("busy")  # a watcher reads the record, then asks the machine (it says running)
    assert probed is not None
    state.set_state("busy", MachineState.STOPPED)  # meanwhile `roost stop` finishes
    probed.state = MachineState.UNREACHABLE  # what the late probe would write
    assert state.update(probed) is None
    assert state.get("busy").state == MachineState.STOPPED  # type: ignore[union-attr]
    fresh = state.get("busy")
    assert fresh is not None
    fresh.state = MachineState.RUNNING  # a probe that read the stop's record may write
    assert state.update(fresh) and state.get("busy").state == MachineState.RUNNING  # type: ignore[union-attr]
    state.close()


def test_the_quick_cli_reads_the_schema_this_roost_writes() -> None:
    from roost.machine import peek

    # a new migration must be checked against peek's queries, then CACHE_SCHEMA moved with it
    assert peek.CACHE_SCHEMA == SCHEMA_VERSION
