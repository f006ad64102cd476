"""Files between this computer and a machine: the spec's workdir and file_mounts up, outputs down."""

from __future__ import annotations

from pathlib import Path

from roost.errors import SpecError
from roost.session import MachineSession
from roost.transport.rsync import rsync, upload_tree


def _local_path(spec_source: str, path: str, field: str) -> Path:
    local = Path(path)  # made absolute when the spec was loaded
    if not local.exists():
        raise SpecError(
            f"'{path}' does not exist (looked at {local})",
            file=spec_source,
            field=field,
            hint="create it, or fix the path (relative paths start at the spec file's folder)",
        )
    return local


def check_local_files(spec_source: str, workdir: str | None, file_mounts: dict[str, str]) -> None:
    """The workdir (a directory) and every file mount's source exist here: checked before
    anything is made, so a wrong path leaves no machine behind."""
    if workdir and not _local_path(spec_source, workdir, "workdir").is_dir():
        raise SpecError(f"'{workdir}' is not a directory", file=spec_source, field="workdir")
    for target, source in file_mounts.items():
        _local_path(spec_source, source, f"file_mounts.{target}")


def push_files(session: MachineSession) -> None:
    """Upload the workdir, then each file mount, into the machine's workdir (incremental, atomic)."""
    spec, record = session.record.spec, session.record
    assert record.facts.home
    route = session.backend.rsync_route(record)
    remote_workdir = f"{record.facts.home}/workdir"
    if spec.workdir:
        local = _local_path(spec.source, spec.workdir, "workdir")
        if not local.is_dir():
            raise SpecError(f"'{spec.workdir}' is not a directory", file=spec.source, field="workdir")
        upload_tree(route, local, remote_workdir)
    for target, source in spec.file_mounts.items():
        local = _local_path(spec.source, source, f"file_mounts.{target}")
        destination = f"{remote_workdir}/{target.strip('/')}"
        if local.is_dir():
            upload_tree(route, local, destination)
        else:
            rsync(route, str(local), destination, upload=True)


def download(session: MachineSession, path: str, destination: str | Path) -> Path:
    """Copy ``path`` (relative to the machine's workdir) down into ``destination``."""
    record = session.record
    assert record.facts.home
    clean = path.strip("/")
    if ".." in clean.split("/"):
        raise SpecError(f"'{path}' leaves the machine's workdir", field="path", hint="give a path inside the workdir")
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    rsync(
        session.backend.rsync_route(record),
        f"{record.facts.home}/workdir/{clean}",
        str(destination) + "/",
        upload=False,
    )
    return destination / Path(clean).name
