"""A service spread over several machines: its worker machines and the tunnels to them.

With ``service.machines: N``, the gateway machine NAME (the spec's first host over SSH)
holds the balancer, the controller and replicas of its own; worker machines ``NAME-w1`` ...
(hosts 2..N over SSH; on AWS instances of their own, all in the cluster NAME, reached at
their private addresses) hold replicas only. A worker's replica listens on the
worker's 127.0.0.1 like every app; the gateway reaches it through an ``ssh -N -L`` tunnel
that the gateway's agent supervises as an app under the replica's name, probed on the
service's probe path (so the tunnel's health is the replica's health, end to end), and
Caddy balances over the tunnel's local port as over a local replica.

The tunnel logs in with a key made on the gateway machine (its private half never leaves
it), authorized on the worker for port forwarding to the worker's replica ports only
(``restrict,pty,port-forwarding,permitopen=...,permitlisten=...,command="sleep ..."``: no
shell, no other port, and no listener of its own on the worker: authorized_keys has no
``permitlisten="none"``, so the one listen allowed is sshd's own port 22, which is taken;
the terminal only keeps the connection interactive, see
:data:`roost.transport.ssh.tunnel.INTERACTIVE`), and checks the worker's host key against the
key roost pinned for it. When a worker is cut off, ``ServerAliveInterval`` ends its tunnel
within seconds: new connections are refused at once and Caddy's retries move requests to
the other replicas.
"""

from __future__ import annotations

import json
import shlex
import subprocess

from roost.agent.client import AppDefinition
from roost.errors import SpecError
from roost.session import MachineSession, load_session
from roost.spec.model import Spec
from roost.transport.ssh.target import SshTarget
from roost.transport.ssh.tunnel import HOLD, INTERACTIVE

AUTHORIZE = r"""
import json, os, sys
args = json.loads(sys.argv[1])
marker = " roost-service:" + args["service"]
directory = os.path.expanduser("~/.ssh")
os.makedirs(directory, mode=0o700, exist_ok=True)
path = os.path.join(directory, "authorized_keys")
try:
    with open(path) as handle:
        lines = [line for line in handle.read().splitlines() if not line.endswith(marker)]
except FileNotFoundError:
    lines = []
if args["ports"]:
    opens = ",".join(f'permitopen="127.0.0.1:{port}"' for port in args["ports"])
    # port-forwarding allows -R too: the only listen allowed is sshd's own port, always taken
    listen = 'permitlisten="127.0.0.1:22",permitlisten="localhost:22"'
    lines.append(f'restrict,pty,port-forwarding,{opens},{listen},command="sleep 2147483647" {args["key"]}{marker}')
with open(path + ".roost-tmp", "w") as handle:
    handle.write("".join(line + "\n" for line in lines))
os.chmod(path + ".roost-tmp", 0o600)
os.replace(path + ".roost-tmp", path)
"""


def worker_names(spec: Spec) -> list[str]:
    """The names of the service's worker machines (none for a service on one machine)."""
    if spec.service is None or spec.service.worker_of:
        return []
    return [f"{spec.name}-w{index}" for index in range(1, spec.service.machines)]


def worker_spec(spec: Spec, index: int) -> Spec:
    """The spec of worker ``index`` (1-based): the app installed and the workdir synced on the
    spec's host ``index``, no balancer, no replicas of its own making."""
    assert spec.service
    service = spec.service.model_copy(update={"machines": 1, "worker_of": spec.name})
    return spec.part(
        f"{spec.name}-w{index}",
        what="worker machine",
        host=index if spec.hosts else None,  # on AWS each worker is an instance of its own
        share=False,
        domain=None,
        service=service,
        budget=spec.machine_budget,
        backup=None,
    )


def worker_session(name: str) -> MachineSession:
    """A worker machine's session."""
    return load_session(name)


def tunnel_key(session: MachineSession) -> str:
    """The gateway machine's public key for its tunnels (made there on first use)."""
    home = session.record.facts.home
    assert home, "the gateway machine is provisioned first"
    key = f"{home}/gateway/tunnel_key"
    script = (
        f"mkdir -p {shlex.quote(home + '/gateway')} && (test -f {shlex.quote(key)} || ssh-keygen -q -t ed25519 "
        f"-N '' -C roost-tunnel -f {shlex.quote(key)}) && cat {shlex.quote(key + '.pub')}"
    )
    found = session.runner.run(script, timeout=60).check("make the gateway's tunnel key")
    return " ".join(found.stdout.split()[:2])


def authorize(gateway: MachineSession, worker: MachineSession, ports: list[int], key: str) -> None:
    """Let the gateway's tunnel ``key`` (:func:`tunnel_key`) forward to ``ports`` on the worker's
    127.0.0.1, nothing else (no shell, no other port); no ports removes the key."""
    _write_authorized(gateway.record.name, worker, key if ports else "", ports)


def _write_authorized(service: str, worker: MachineSession, key: str, ports: list[int]) -> None:
    args = {"service": service, "key": key, "ports": sorted(ports)}
    runner = worker.runner
    runner.run([runner.python, "-c", AUTHORIZE, json.dumps(args)], timeout=60).check(
        f"set the gateway's tunnel key on '{worker.record.name}'"
    )


def _ssh_target(worker: MachineSession) -> SshTarget:
    target = worker.backend.ssh_target(worker.record)
    if target is None:
        raise SpecError(
            f"worker machine '{worker.record.name}' is not reached over SSH",
            hint="services spread over machines need the ssh backend",
        )
    return target


def pin_host_key(gateway: MachineSession, worker: MachineSession) -> str:
    """Copy the worker's host key from roost's known_hosts to a file on the gateway machine
    (its path returned), filed under the name roost's known_hosts uses for it."""
    target = _ssh_target(worker)
    found = subprocess.run(
        ["ssh-keygen", "-F", target.known_hosts_name, "-f", target.known_hosts],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in found.stdout.splitlines() if line.strip() and not line.startswith("#")]
    known = f"{gateway.record.facts.home}/gateway/known_hosts-{worker.record.name}"
    gateway.runner.write_file(known, "".join(line + "\n" for line in lines).encode())
    return known


def tunnel_definition(
    gateway: MachineSession,
    worker: MachineSession,
    known: str,
    name: str,
    local_port: int,
    remote_port: int,
    probe_path: str,
    interval: float,
) -> AppDefinition:
    """The gateway agent's app for one remote replica: a forward from ``local_port`` on the
    gateway's 127.0.0.1 to the replica's port on the worker's, checking the host key pinned in
    ``known`` (see :func:`pin_host_key`)."""
    home = gateway.record.facts.home
    target = _ssh_target(worker)
    alias, alive = target.known_hosts_name, max(1, round(interval))
    options = {"IdentitiesOnly": "yes", "BatchMode": "yes", "StrictHostKeyChecking": "yes",
               "UserKnownHostsFile": known, "GlobalKnownHostsFile": "/dev/null", "HostKeyAlias": alias,
               "ExitOnForwardFailure": "yes", "ServerAliveInterval": alive, "ServerAliveCountMax": 2,
               "ConnectTimeout": 5, "LogLevel": "ERROR"}  # fmt: skip
    argv = ["ssh", *INTERACTIVE, "-F", "/dev/null", "-i", f"{home}/gateway/tunnel_key",
            *(arg for option, value in options.items() for arg in ("-o", f"{option}={value}")),
            "-p", str(target.port), "-l", target.user, "-L", f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}",
            "--", worker.backend.peer_address(worker.record), HOLD]  # fmt: skip
    return AppDefinition(name=name, argv=argv, port=local_port, health_path=probe_path, stop_timeout=5.0)


def authorize_none(service: str, worker: MachineSession) -> None:
    """Remove the service's tunnel key from the worker."""
    _write_authorized(service, worker, "", [])
