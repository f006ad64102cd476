"""Who and where to connect: a HostSpec resolved into an SshTarget with roost's options.

Every connection uses BatchMode, roost's own known_hosts with strict checking, timeouts,
and one multiplexed master connection per target (ControlMaster/ControlPersist).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from roost.errors import HostAuthError, HostUnreachable
from roost.paths import roost_home
from roost.spec.model import HostSpec


@dataclass(frozen=True)
class SshTarget:
    """A resolved SSH destination and the files roost uses to reach it."""

    label: str  # what the user wrote (alias or address), for messages
    hostname: str
    user: str
    port: int
    key: str | None
    known_hosts: str
    control_dir: str
    connect_timeout: int = 10
    host_key_alias: str | None = None
    """The name the host's key is filed under in known_hosts, when not its address (a cloud
    machine whose address changes at every start keeps its key under its machine name)."""

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.hostname}"

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts names this host (``[host]:port`` off port 22, or its alias)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def options(self, *, master: bool = True) -> list[str]:
        """The ``ssh`` options roost always passes (before the destination)."""
        opts = [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            f"ServerAliveInterval={min(5, self.connect_timeout)}",
            "-o",
            "ServerAliveCountMax=2",
            "-o",
            "LogLevel=ERROR",
            "-p",
            str(self.port),
            "-l",
            self.user,
        ]
        if self.host_key_alias:
            opts += ["-o", f"HostKeyAlias={self.host_key_alias}"]
        if self.key:
            opts += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if master:
            opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/%C", "-o", "ControlPersist=600"]
        else:
            opts += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        return opts

    def config_block(self, alias: str) -> str:
        """An ssh_config ``Host`` block that reaches this target as roost does (its key, its
        known_hosts with strict checking, its master connection), for ssh, scp, rsync, VS Code."""
        lines = [
            f"Host {alias}",
            f"  HostName {self.hostname}",
            f"  User {self.user}",
            f"  Port {self.port}",
            "  StrictHostKeyChecking yes",
            f"  UserKnownHostsFile {self.known_hosts}",
            "  GlobalKnownHostsFile /dev/null",
            f"  ConnectTimeout {self.connect_timeout}",
            "  ControlMaster auto",
            f"  ControlPath {self.control_dir}/%C",
            "  ControlPersist 600",
        ]
        if self.host_key_alias:
            lines.append(f"  HostKeyAlias {self.host_key_alias}")
        if self.key:
            lines += [f"  IdentityFile {self.key}", "  IdentitiesOnly yes"]
        return "\n".join(lines) + "\n"

    def ssh_argv(self, *, master: bool = True) -> list[str]:
        """``ssh`` with roost's options, up to (not including) the destination."""
        return ["ssh", *user_config(), *self.options(master=master)]


def control_dir() -> str:
    """A short private directory for master sockets (unix socket paths are limited to 108 bytes)."""
    tag = hashlib.sha256(str(roost_home()).encode()).hexdigest()[:8]
    path = Path(f"/tmp/roost-{os.getuid()}") / tag
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    return str(path)


def user_config() -> list[str]:
    """``-F FILE`` when ``ROOST_SSH_CONFIG`` names an ssh config to use instead of ~/.ssh/config."""
    path = os.environ.get("ROOST_SSH_CONFIG")
    return ["-F", path] if path else []


def _ssh_config(host: HostSpec) -> dict[str, str]:
    """What the user's ssh config says about the host (``ssh -G``)."""
    argv = (
        ["ssh", *user_config(), "-G"]
        + (["-p", str(host.port)] if host.port else [])
        + (["-l", host.user] if host.user else [])
    )
    result = subprocess.run([*argv, host.address], capture_output=True, text=True, timeout=10)
    config: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key.lower(), value)
    return config


def _config_key(config: dict[str, str]) -> str | None:
    """The identity file the ssh config names for the host, if it exists (else ssh's defaults)."""
    path = os.path.expanduser(config.get("identityfile", ""))
    return path if path and os.path.exists(path) else None


def resolve(host: HostSpec) -> SshTarget:
    """Resolve a HostSpec (address, alias, user, key, port) into a target; clear errors if it cannot."""
    config = _ssh_config(host)
    hostname = config.get("hostname", host.address)
    try:
        socket.getaddrinfo(hostname, None)
    except OSError:
        raise HostUnreachable(
            host.address,
            "is not an address, a name that resolves, or an alias in ~/.ssh/config",
            hint="check the spelling of the host in the spec's 'hosts:'",
        ) from None
    key = os.path.expanduser(host.key) if host.key else _config_key(config)
    if key is not None:
        try:
            with open(key, "rb"):
                pass
        except OSError as exc:
            raise HostAuthError(
                host.address,
                f"cannot read the key file {key}: {exc.strerror}",
                hint="point 'key:' at a readable private key (mode 0600)",
            ) from None
    user = host.user or config.get("user") or os.environ.get("USER", "root")
    port = host.port or int(config.get("port", "22"))
    return SshTarget(
        label=host.address,
        hostname=hostname,
        user=user,
        port=port,
        key=key,
        known_hosts=str(roost_home() / "known_hosts"),
        control_dir=control_dir(),
        connect_timeout=host.connect_timeout,
    )
