"""``roost ssh`` and roost's ssh config: plain ssh, rsync and VS Code reach a machine as roost does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import roost
from tests.e2e.test_gateway import host_entry

pytestmark = pytest.mark.e2e
ROOST = [sys.executable, "-m", "roost"]


def test_ssh_and_rsync_through_roosts_ssh_config(testhosts, roost_home: Path, tmp_path: Path) -> None:
    host = testhosts.hosts[0]
    spec = tmp_path / "box.yaml"
    spec.write_text(yaml.safe_dump({"name": "box", "backend": "ssh", "hosts": [host_entry(host)]}))
    roost.up(spec)
    config = roost_home / "ssh" / "config"
    assert "Host roost-box" in config.read_text() and config.stat().st_mode & 0o777 == 0o600

    inside = subprocess.run([*ROOST, "ssh", "box", "--", "pwd"], capture_output=True, text=True, timeout=60)
    assert inside.returncode == 0 and inside.stdout.strip().endswith("/workdir"), inside.stderr
    failing = subprocess.run([*ROOST, "ssh", "box", "--", "sh", "-c", "exit 7"], capture_output=True, timeout=60)
    assert failing.returncode == 7

    # --install adds one Include line to ~/.ssh/config, first, and nothing else
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    user_config = home / ".ssh" / "config"
    user_config.write_text("Host other\n  User someone\n")
    env = {**os.environ, "HOME": str(home)}
    for said in ("Include added", "already includes it"):
        done = subprocess.run([*ROOST, "ssh-config", "--install"], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0 and said in done.stdout, done.stderr
    text = user_config.read_text()
    assert text.splitlines()[1] == f"Include {config}" and text.endswith("Host other\n  User someone\n")
    assert text.count("Include") == 1

    ssh = ["ssh", "-F", str(user_config)]
    assert subprocess.run([*ssh, "roost-box", "true"], timeout=60).returncode == 0
    (tmp_path / "notes.txt").write_text("synced by plain rsync")
    rsync = ["rsync", "-a", "-e", " ".join(ssh), str(tmp_path / "notes.txt"), "roost-box:notes-from-rsync.txt"]
    assert subprocess.run(rsync, timeout=60).returncode == 0
    read = subprocess.run([*ssh, "roost-box", "cat notes-from-rsync.txt"], capture_output=True, text=True, timeout=60)
    assert read.stdout == "synced by plain rsync"

    # another key for the host's name: refused (without the master connection that already trusts it)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    public = (tmp_path / "other_key.pub").read_text().split()[:2]
    (tmp_path / "wrong_known_hosts").write_text(f"{host.ip} {' '.join(public)}\n[{host.ip}]:22 {' '.join(public)}\n")
    refused = subprocess.run(
        [
            *ssh,
            "-o",
            f"UserKnownHostsFile={tmp_path / 'wrong_known_hosts'}",
            "-o",
            "ControlPath=none",
            "roost-box",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr

    roost.down("box")
    assert "roost-box" not in config.read_text()
