"""Bad SSH input: each a clear error naming the host and what to do; nothing half-made."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import roost
from roost.errors import HostAuthError, HostError, HostKeyError, HostUnreachable, SpecError
from roost.spec.loader import spec_from_data

APP = {"type": "command", "command": "python3 -m http.server {port} --bind 127.0.0.1"}


def spec_for(host, name: str = "bad", **overrides) -> roost.Spec:
    entry = {
        "address": host.ip,
        "user": host.user,
        "key": host.key,
        "host_key": host.host_key_fingerprint,
        "connect_timeout": 3,
    }
    entry.update(overrides)
    return spec_from_data({"name": name, "backend": "ssh", "app": APP, "hosts": [entry]})


def assert_nothing_left(roost_home: Path) -> None:
    assert roost.status() == []


def test_unknown_host_alias(roost_home: Path, testhosts) -> None:
    spec = spec_from_data({"name": "bad", "backend": "ssh", "app": APP, "hosts": ["no-such-alias-roost"]})
    with pytest.raises(
        HostUnreachable, match="no-such-alias-roost.*not an address, a name that resolves, or an alias in ~/.ssh/config"
    ):
        roost.up(spec)
    assert_nothing_left(roost_home)


def test_unreadable_key(roost_home: Path, testhosts, tmp_path: Path) -> None:
    with pytest.raises(HostAuthError, match=r"cannot read the key file .*missing-key"):
        roost.up(spec_for(testhosts.hosts[1], key=str(tmp_path / "missing-key")))
    assert_nothing_left(roost_home)


def test_wrong_user(roost_home: Path, testhosts) -> None:
    host = testhosts.hosts[1]
    with pytest.raises(HostAuthError, match=f"host {host.ip} during step 'provision': refused user 'nobody'"):
        roost.up(spec_for(host, user="nobody"))
    assert_nothing_left(roost_home)


def test_host_key_mismatch_is_a_security_warning_and_connects_nowhere(roost_home: Path, testhosts) -> None:
    host, other = testhosts.hosts[1], testhosts.hosts[2]
    with pytest.raises(HostKeyError, match=re.escape(f"SECURITY WARNING: the host offers {host.host_key_fingerprint}")):
        roost.up(spec_for(host, host_key=other.host_key_fingerprint))
    known = roost_home / "known_hosts"
    assert not known.exists() or host.ip not in known.read_text()
    assert_nothing_left(roost_home)


def test_changed_host_key_after_first_contact_is_refused(roost_home: Path, testhosts) -> None:
    host, other = testhosts.hosts[1], testhosts.hosts[2]
    # roost recorded a different key for this address earlier (as if the machine was swapped)
    other_key = (testhosts.directory / f"h{other.index}" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
    roost_home.mkdir(parents=True, exist_ok=True)
    (roost_home / "known_hosts").write_text(f"{host.ip} {other_key[0]} {other_key[1]}\n")
    with pytest.raises(HostKeyError, match="SECURITY WARNING: its host key does not match"):
        roost.up(spec_for(host, host_key=None))
    assert_nothing_left(roost_home)


def test_first_contact_needs_a_fingerprint_or_explicit_acceptance(roost_home: Path, testhosts) -> None:
    host = testhosts.hosts[1]
    with pytest.raises(
        HostKeyError,
        match="(?s)roost has never connected to this host; it offers "
        + re.escape(host.host_key_fingerprint)
        + ".*--accept-new-host-key",
    ):
        roost.up(spec_for(host, host_key=None))
    assert_nothing_left(roost_home)
    result = roost.up(spec_for(host, host_key=None), accept_new_host_key=True)
    assert result.url.startswith("http://127.0.0.1:")
    assert host.ip in (roost_home / "known_hosts").read_text()
    roost.down("bad")


def test_host_without_python3(roost_home: Path, testhosts) -> None:
    host = testhosts.hosts[2]
    home = testhosts.home_of(host)
    nopy = home / "nopy"
    nopy.mkdir(exist_ok=True)
    for tool in ("sh", "uname", "id", "mkdir", "touch", "cat", "rm", "test"):
        if not (nopy / tool).exists():
            os.symlink(f"/usr/bin/{tool}", nopy / tool)
    bashrc = home / ".bashrc"
    bashrc.write_text("export PATH=$HOME/nopy\n")  # as the host sees its own home
    try:
        with pytest.raises(
            HostError, match=f"(?s)host {host.ip} during step 'provision': has no python3.*apt-get install"
        ):
            roost.up(spec_for(host, name="nopy"))
    finally:
        bashrc.unlink()
    assert_nothing_left(roost_home)


def test_file_mount_outside_the_workdir_is_refused() -> None:
    with pytest.raises(SpecError, match="file_mounts target '../etc' is outside the machine's workdir"):
        spec_from_data({"name": "m", "app": APP, "file_mounts": {"../etc": "."}})
