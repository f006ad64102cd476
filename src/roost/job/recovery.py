"""Managed recovery: a job whose machine is lost resumes on another one from its checkpoint.

While the job runs, roost copies ``$ROOST_CHECKPOINT_DIR`` off the machine every
``checkpoint_every`` into ``$ROOST_HOME/checkpoints/NAME``. When the machine stops
answering, roost moves the machine to the next host of the spec, puts the last checkpoint
back and submits the job again; the job resumes from it instead of starting over.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from roost.errors import HostUnreachable, RoostError
from roost.lifecycle import machines as lifecycle
from roost.machine.record import MachineFacts
from roost.machine.state import State
from roost.paths import roost_home
from roost.progress import Progress
from roost.session import MachineSession, open_session
from roost.transport.rsync import rsync


def mirror_dir(name: str) -> Path:
    """This computer's copy of a machine's checkpoints."""
    path = roost_home() / "checkpoints" / name
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class CheckpointSync:
    """A thread that copies the machine's checkpoint directory here at an interval."""

    def __init__(self, session: MachineSession, interval: float) -> None:
        self.session = session
        self.interval = interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="roost-checkpoints")

    def __enter__(self) -> CheckpointSync:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def pull(self) -> None:
        """One copy, into a fresh directory swapped in whole (a cut copy never replaces a good one)."""
        record = self.session.record
        target = mirror_dir(record.name)
        fresh = target.with_name(target.name + ".incoming")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(target, fresh)  # rsync then only moves what changed
        rsync(
            self.session.backend.rsync_route(record),
            f"{record.facts.home}/checkpoints/",
            f"{fresh}/",
            upload=False,
            timeout=max(60.0, self.interval * 4),
        )
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        fresh.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    def _loop(self) -> None:
        while not self.done.wait(self.interval):
            try:
                self.pull()
            except RoostError:
                continue  # the machine may be going away; the last good copy stays


def push_checkpoint(session: MachineSession) -> None:
    """Put the last checkpoint copied here into the machine's checkpoint directory."""
    rsync(
        session.backend.rsync_route(session.record),
        f"{mirror_dir(session.record.name)}/",
        f"{session.record.facts.home}/checkpoints/",
        upload=True,
    )


def move_to_next_host(name: str, progress: Progress) -> MachineSession:
    """Bring the machine up on another host of its spec, with the last checkpoint restored."""
    state = State()
    try:
        record = open_session(state, name).record
        lost = record.facts.host
        candidates = [host for host in record.spec.hosts if host.address != lost]
        for host in candidates:
            progress.info(f"machine '{name}' lost its host {lost}; recovering on {host.address}")
            record.facts = MachineFacts(host=host.address)
            state.save(record)
            state.forget_steps(name)
            try:
                lifecycle.up(record.spec, progress=progress, reconcile=True)
            except HostUnreachable:
                continue
            session = open_session(state, name)
            push_checkpoint(session)
            return session
    finally:
        state.close()
    raise HostUnreachable(
        lost or name,
        "was lost and no other host of the spec could take the job over",
        hint="bring a host back and run `roost run` again; the checkpoint is kept here",
    )
