"""Shared fixtures: an isolated ROOST_HOME per test and one uv cache for the whole run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.helpers import AWS_NET, SSH_NET

REPO = Path(__file__).resolve().parents[1]
# One uv cache for every test (and the Makefile's): the second machine installs offline.
os.environ.setdefault("UV_CACHE_DIR", str(REPO / ".cache" / "uv"))
# ... and one wheelhouse cache: wheels for air-gapped test hosts are downloaded once.
os.environ.setdefault("ROOST_CACHE_DIR", str(REPO / ".cache" / "roost"))
# A shell starts a background job with SIGINT ignored, and a child inherits an ignored signal:
# the tests that press Ctrl-C on a roost process must find it as a terminal user would.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    from roost.machine.state import State

    state = State(home)
    names = [record.name for record in state.machines()]
    state.close()
    for name in names:
        try:
            roost.down(name, no_backup=True)
        except roost.RoostError:
            pass


@pytest.fixture(scope="session")
def testhosts():
    """Three real SSH hosts in network namespaces, shared by the whole session."""
    from tests.harness.testhosts import TestHosts, can_run

    reason = can_run()
    if reason:
        pytest.skip(reason)
    # a prefix of this run's own: a namespace the kernel is slow to free cannot block the next run
    prefix = f"t{os.getpid() % 1000:03d}x"
    hosts = TestHosts(3, prefix=prefix, net=SSH_NET, directory=Path(f"/tmp/roost-testhosts-{prefix}"))
    hosts.up()
    for host in hosts.hosts:
        # let the host's users bind 443 (the gateway), as the machine's owner may allow it
        hosts.root(host.index, "echo 443 > /proc/sys/net/ipv4/ip_unprivileged_port_start")
    yield hosts
    hosts.down()


@pytest.fixture(scope="session")
def moto_server():
    """moto's server on 127.0.0.1 (the AWS control plane), shared by the whole session."""
    pytest.importorskip("moto", reason="moto is a dev dependency (make test installs it)")
    from tests.harness.fakecloud import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aws_hosts():
    """Two SSH test hosts where moto's instances "are": 10.252.0.4 and .5, user ubuntu."""
    from tests.harness.testhosts import TestHosts, can_run

    reason = can_run()
    if reason:
        pytest.skip(reason)
    prefix = f"a{os.getpid() % 1000:03d}x"
    hosts = TestHosts(
        2, prefix=prefix, net=AWS_NET, first=4, user="ubuntu", directory=Path(f"/tmp/roost-awshosts-{prefix}")
    )
    hosts.up()
    yield hosts
    hosts.down()


@pytest.fixture
def aws(moto_server, roost_home, monkeypatch: pytest.MonkeyPatch):
    """A clean moto with a subnet on the test hosts' network, roost pointed at it."""
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    world = AwsWorld(moto_server)
    world.fresh()
    yield world


class AwsWorld:
    """What an AWS test works with: moto, its clients and the test subnet."""

    def __init__(self, moto) -> None:
        self.moto = moto
        self.ec2 = moto.client("ec2")
        self.subnet = ""
        self.images: dict[str, str] = {}

    def fresh(self) -> None:
        """Forget every AWS resource and make the test subnet again (instances get .4 upwards:
        moto frees a terminated instance's address only when it garbage-collects it)."""
        from tests.harness.fakecloud import seed

        self.moto.reset()
        self.subnet, self.images = seed(self.moto, f"{AWS_NET}.0/24")


@pytest.fixture
def cloud_init(aws, aws_hosts):
    """Test hosts following moto's instances (see tests/harness/fakecloud.py)."""
    from tests.harness.fakecloud import CloudInit

    watcher = CloudInit(aws.moto, aws_hosts)
    watcher.start()
    yield watcher
    watcher.stop()
    assert not watcher.errors, watcher.errors
