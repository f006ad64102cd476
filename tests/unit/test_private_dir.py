"""The folder of roost's sockets on a machine: made 0700, or refused when someone else made it first."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from roost.errors import HostError
from roost.paths import short_socket_dir
from roost.transport.local import LocalRunner
from roost.transport.private import ensure_private_dir


def test_a_socket_folder_is_made_private_and_one_made_by_someone_else_is_refused(tmp_path: Path) -> None:
    runner = LocalRunner()
    mine = tmp_path / "home" / "run" / "postgres"
    ensure_private_dir(runner, str(mine))
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700 and mine.stat().st_uid == os.getuid()
    ensure_private_dir(runner, str(mine))  # found again as it was left: fine
    # a long home moves the socket under /tmp, where anyone can make the folder first
    long_home = "/home/firstname.lastname/" + "m" * 28 + "/.roost/machines/label-studio"
    assert short_socket_dir(long_home, "postgres").startswith("/tmp/roost-postgres-")

    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    if os.getuid() == 0:  # as root, play the other user by giving it away
        os.chown(theirs, 65534, 65534)
        with pytest.raises(HostError, match="belongs to user id 65534"):
            ensure_private_dir(runner, str(theirs))
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    with pytest.raises(HostError, match="has mode 777, not 700") as refused:
        ensure_private_dir(runner, str(open_to_all))
    assert "remove" in str(refused.value)
    link = tmp_path / "link"
    link.symlink_to(mine)
    with pytest.raises(HostError, match="is not a directory roost made"):
        ensure_private_dir(runner, str(link))
