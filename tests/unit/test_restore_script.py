"""The restore program roost runs on a machine, run here on crafted backups: a media archive
never writes outside the data folder, never keeps setuid bits, and a refused one changes nothing."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from roost.backups.scripts import RESTORE


def backup(tmp_path: Path, members: list[tuple[str, int]]) -> Path:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "database.sqlite3.gz").write_bytes(gzip.compress(b"sqlite"))
    with tarfile.open(incoming / "media.tar.gz", "w:gz") as tar:
        for name, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = 5, mode
            tar.addfile(info, io.BytesIO(b"media"))
    return incoming


def restore(tmp_path: Path, incoming: Path) -> subprocess.CompletedProcess[str]:
    config = {"data": str(tmp_path / "data"), "incoming": str(incoming), "aside": str(tmp_path / "aside")}
    return subprocess.run(
        [sys.executable, "-", json.dumps(config)], input=RESTORE, capture_output=True, text=True, timeout=60
    )


def test_media_with_dot_dot_parts_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep").write_text("current")
    done = restore(tmp_path, backup(tmp_path, [("media/ok.txt", 0o644), ("media/..", 0o755)]))
    assert done.returncode != 0 and "refusing unsafe member 'media/..'" in done.stderr
    assert (tmp_path / "data" / "keep").read_text() == "current" and not (tmp_path / "aside").exists()


def test_restored_media_keeps_no_setuid_bit(tmp_path: Path) -> None:
    done = restore(tmp_path, backup(tmp_path, [("media/tool", 0o4777)]))
    assert done.returncode == 0, done.stderr
    mode = (tmp_path / "data" / "media" / "tool").stat().st_mode
    assert not mode & 0o4000 and not mode & 0o002  # tarfile's data filter: no setuid, no world-write
