"""Real remote machines on this box: OpenSSH sshd in their own network/PID/mount namespaces.

A thin Python face over ``testhosts.sh`` (beside this file), used by the pytest fixture and by
the benchmarks. Each host has its own address on a private bridge, its own /home and /tmp,
key login only and no route out; it can be stopped/started (machine loss) and cut/healed
(network partition). Needs root, iproute2, util-linux and openssh-server.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("testhosts.sh")


@dataclass(frozen=True)
class TestHost:
    """One host: where it is, who logs in, and its host key's fingerprint."""

    index: int
    name: str
    ip: str
    user: str
    key: str
    host_key_fingerprint: str

    @property
    def address(self) -> str:
        return f"{self.user}@{self.ip}"


def can_run() -> str | None:
    """None when test hosts can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "test hosts need root (network namespaces)"
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/rsync"):
        if not os.path.exists(tool):
            return f"{tool} is missing (make test installs it)"
    return None


class TestHosts:
    """N hosts with a private prefix, network and state directory; ``down`` removes all of it."""

    def __init__(
        self, count: int, *, prefix: str, net: str, directory: Path, first: int = 2, user: str | None = None
    ) -> None:
        self.count = count
        self.directory = directory
        self.env = {
            **os.environ,
            "TH_DIR": str(directory),
            "TH_PREFIX": prefix,
            "TH_NET": net,
            "TH_FIRST": str(first),
            "TH_USER": user or "",
        }
        self.hosts: list[TestHost] = []

    def _sh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"testhosts {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result

    def up(self) -> list[TestHost]:
        """Create the hosts (clearing leftovers of an earlier run with the same prefix)."""
        self._sh("down", check=False)
        self._wait_links_gone()
        self._sh("up", str(self.count))
        self.hosts = []
        for line in (self.directory / "hosts.txt").read_text().splitlines():
            index, name, ip, user = line.split()
            pub = self.directory / f"h{index}" / "ssh" / "ssh_host_ed25519_key.pub"
            fingerprint = subprocess.run(
                ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
            ).stdout.split()[1]
            self.hosts.append(TestHost(int(index), name, ip, user, str(self.directory / "id_ed25519"), fingerprint))
        return self.hosts

    def _wait_links_gone(self) -> None:
        # the kernel removes a deleted namespace's veth pairs asynchronously
        prefix = self.env["TH_PREFIX"]
        for _ in range(100):
            links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
            if not any(f": {prefix}v" in line or f": {prefix}br0" in line for line in links.splitlines()):
                return
            time.sleep(0.05)

    def down(self) -> None:
        """Kill every host's processes; delete namespaces, bridge, users and files."""
        self._sh("down", check=False)
        # a namespace kept alive by a socket still retransmitting (a cut host) keeps its veth:
        # delete our side, which deletes the pair
        prefix = self.env["TH_PREFIX"]
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(": ", 2)[1].split("@")[0] if ": " in line else ""
            if name.startswith(f"{prefix}v") and name[len(prefix) + 1 :].isdigit():
                subprocess.run(["ip", "link", "del", name], capture_output=True)

    def stop(self, index: int) -> None:
        """Kill every process of the host, as a machine loss would."""
        self._sh("stop", str(index))

    def start(self, index: int) -> None:
        """Boot the host again (its files are kept)."""
        self._sh("start", str(index))

    def cut(self, index: int) -> None:
        """Take the host's link down: connections to it time out."""
        self._sh("cut", str(index))

    def heal(self, index: int) -> None:
        """Bring the host's link back."""
        self._sh("heal", str(index))

    def throttle(self, index: int, rate: str | None) -> None:
        """Limit traffic towards the host to ``rate`` (e.g. "50mbit"); None lifts the limit."""
        link = f"{self.env['TH_PREFIX']}v{index}"
        subprocess.run(["tc", "qdisc", "del", "dev", link, "root"], capture_output=True)
        if rate:
            subprocess.run(
                ["tc", "qdisc", "add", "dev", link, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "500ms"],
                check=True,
                capture_output=True,
            )

    def drop_nft_table(self, index: int, table: str) -> None:
        """Delete the nftables table ``inet table`` from the host's network, running or not (the
        network namespace outlives the host's processes); nothing when there is none."""
        namespace = f"{self.env['TH_PREFIX']}{index}"
        subprocess.run(["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", table], capture_output=True)

    def root(self, index: int, command: str) -> subprocess.CompletedProcess[str]:
        """Run a shell command as root inside the host's namespaces."""
        return self._sh("root", str(index), "sh", "-c", command, check=False)

    def home_of(self, host: TestHost) -> Path:
        """The host's /home/USER as seen from this machine."""
        return self.directory / f"h{host.index}" / "home" / host.user
