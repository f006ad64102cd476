"""Services: an app as replicas behind the gateway's load balancer (``service:`` in a spec).

Each replica is the app's own definition on a port of its own, supervised by the agent
(a replica that dies is restarted with backoff) and named ``APP-1``, ``APP-2``, ... The
gateway (Caddy) balances over them with an active probe, passive failure detection and
retries, so a dead replica gets no traffic; a new replica set reaches Caddy through its
admin API as a graceful reload, which keeps open connections. Not shared, the balancer
listens on the machine's 127.0.0.1 (reached through roost's tunnel); shared, on 443 with
TLS and a login, as any shared app.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from roost.agent.client import AppDefinition
from roost.apps import AppContext
from roost.errors import AppError, SpecError
from roost.session import MachineSession, load_session
from roost.spec import Spec
from roost.steps import Step, fingerprint

if TYPE_CHECKING:
    from roost.lifecycle import UpResult
    from roost.progress import Progress


class ReplicaStatus(BaseModel):
    """One replica as the agent and the balancer see it."""

    name: str
    machine: str
    """The machine it runs on (the gateway machine, or a worker machine of the service)."""
    port: int
    """Its port on the gateway machine's 127.0.0.1 (a tunnel's, for a replica on a worker)."""
    state: str
    healthy: bool
    restarts: int
    pid: int | None
    in_flight: int | None = None
    """Requests Caddy has open to it now (None when the balancer did not answer)."""
    fails: int | None = None
    """Recent failures Caddy counted against it (passive detection)."""


class ServiceStatus(BaseModel):
    """A service: its replicas, its address and its request rate."""

    name: str
    url: str | None
    replicas: list[ReplicaStatus]
    requests_per_second: float | None = None
    desired: int | None = None
    """The autoscaler's wanted count (None when the service does not autoscale)."""
    routes: dict[str, list[ReplicaStatus]] = {}
    """Each route's replicas (``service.routes``), by path."""
    events: list[dict] = []
    """What the controller did lately (``at`` epoch seconds, ``event``: added, removed, restarted,
    replaced; ``replica``; for a replacement the lost ``machine`` and the new replica ``by``)."""


DRAIN_SECONDS = 2.0
"""How long a replica taken out of the balancer keeps running, so requests it holds finish."""


def _free_ports(session: MachineSession, count: int, taken: set[int]) -> list[int]:
    facts, ports = session.record.facts, []
    while len(ports) < count:
        port = session.agent.free_port()
        if port not in taken and port not in ports and port not in (facts.app_port, facts.gateway_health_port):
            ports.append(port)
    return ports


def _replica_context(ctx: AppContext, port: int) -> AppContext:
    record = ctx.record.model_copy(update={"facts": ctx.record.facts.model_copy(update={"app_port": port})})
    return AppContext(record=record, runner=ctx.runner, agent=ctx.agent, make_tools=ctx.make_tools,
                      vault=ctx.vault, public_host=ctx.public_host)


class Replicas:
    """Starts, probes, swaps and removes one service's replicas; the serving set is kept in
    the machine's facts after every change, so an interrupted run resumes from what serves.

    A replica on a worker machine (see :mod:`roost.placement`) runs under the worker's agent;
    the gateway's agent runs its tunnel under the same name, and that is what Caddy sees."""

    def __init__(self, session: MachineSession) -> None:
        from roost.placement import worker_names

        spec = session.record.spec
        assert spec.service and session.driver
        self.session, self.service, self.driver = session, spec.service, session.driver
        self.ctx = session.context()
        self.facts = session.record.facts
        self.machines = ["", *worker_names(spec)]  # "" is the gateway machine itself
        self._workers: dict[str, MachineSession] = {}

    def worker(self, machine: str) -> MachineSession:
        """The session of worker machine ``machine`` (opened once)."""
        from roost.placement import worker_session

        if machine not in self._workers:
            self._workers[machine] = worker_session(machine)
        return self._workers[machine]

    def machine_of(self, name: str) -> str:
        """The machine replica ``name`` runs on ("" for the gateway machine)."""
        remote = self.facts.replica_remote.get(name)
        return remote[0] if remote else ""

    def definition(self, name: str, port: int, worker: MachineSession | None = None) -> AppDefinition:
        """What the agent runs for one replica: the app's own definition on ``port``, probed on the probe path."""
        from roost.routes import variables

        ctx = worker.context() if worker else self.ctx
        own = self.driver.definition(_replica_context(ctx, port))
        return own.model_copy(update={"name": name, "health_path": self.service.probe.path,
                                      "env": {**own.env, **variables(self.session)}})

    def tunnel(self, name: str, local_port: int) -> AppDefinition:
        """The gateway's tunnel to remote replica ``name``."""
        from roost.placement import tunnel_definition

        machine, remote_port = self.facts.replica_remote[name]
        return tunnel_definition(self.session, self.worker(machine), name, local_port, remote_port,
                                 self.service.probe.path, self.service.probe.interval_seconds)

    def release(self) -> str:
        """A fingerprint of the replicas' definition (a new one means a rolling update)."""
        return fingerprint(self.definition("replica", 0).model_dump())

    def _placed(self, count: int, alongside: list[tuple[str, int]]) -> list[tuple[str, str]]:
        """Names and machines for ``count`` new replicas: each on the machine with the fewest
        replicas of the set it joins (the gateway machine first on a tie)."""
        load = {machine: 0 for machine in self.machines}
        for name, _ in alongside:
            load[self.machine_of(name)] = load.get(self.machine_of(name), 0) + 1
        placed = []
        for _ in range(count):
            machine = min(self.machines, key=lambda m: load[m])
            load[machine] += 1
            self.facts.replica_serial += 1
            placed.append((f"{self.driver.name}-{self.facts.replica_serial}", machine))
        return placed

    def start(self, count: int, alongside: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Start ``count`` new replicas to serve beside ``alongside`` and wait for their probes;
        on failure remove them and raise."""
        placed = self._placed(count, alongside)
        ports = _free_ports(self.session, count, set(self.facts.replica_ports))
        for name, machine in placed:
            if machine:
                worker, taken = self.worker(machine), {p for m, p in self.facts.replica_remote.values() if m == machine}
                remote = next(p for p in iter(worker.agent.free_port, None) if p not in taken)
                worker.agent.put_app(self.definition(name, remote, worker))
                self.facts.replica_remote[name] = (machine, remote)
        self.session.save()
        for machine in {machine for _, machine in placed if machine}:
            self._authorize(machine)
        started, digests = [(name, port) for (name, _), port in zip(placed, ports)], {}
        for (name, machine), port in zip(placed, ports):
            digests[name] = self.ctx.agent.put_app(self.tunnel(name, port) if machine else self.definition(name, port))
        deadline = time.monotonic() + self.service.probe.ready_within_seconds
        try:
            for name, digest in digests.items():
                self.ctx.agent.wait_healthy(name, max(1.0, deadline - time.monotonic()), digest=digest,
                                            log_hint=f"the probe of replica {name} never answered; the replicas "
                                                     "that served before still serve")
        except BaseException:
            clash = self._port_clash(started)
            self._remove(started)
            if clash:
                raise clash from None
            raise
        return started

    def _authorize(self, machine: str) -> None:
        """Let the gateway's tunnels reach exactly the replica ports now on ``machine``."""
        from roost.placement import authorize

        ports = [port for m, port in self.facts.replica_remote.values() if m == machine]
        authorize(self.session, self.worker(machine), ports)

    def _remove(self, replicas: list[tuple[str, int]]) -> None:
        """Remove replicas (and the tunnels to remote ones) from their agents; a worker that does
        not answer keeps its replica until the next converge finds it a stray."""
        from roost.errors import RoostError

        touched = set()
        for name, _ in replicas:
            self.ctx.agent.remove_app(name)
            remote = self.facts.replica_remote.pop(name, None)
            if remote:
                touched.add(remote[0])
                try:
                    self.worker(remote[0]).agent.remove_app(name)
                except RoostError:
                    pass
        self.session.save()
        for machine in touched:
            try:
                self._authorize(machine)
            except RoostError:
                pass

    def _port_clash(self, started: list[tuple[str, int]]) -> AppError | None:
        """An error naming the replica that found its address taken (a command with a fixed port)."""
        for name, port in started:
            machine = self.machine_of(name)
            agent = self.worker(machine).agent if machine else self.ctx.agent
            tail = agent.logs(name, lines=30).stdout
            if "already in use" in tail.lower():
                return AppError(f"replica {name} could not listen: its address is already in use (roost gave it "
                                f"port {port}); the replicas that served before still serve",
                                hint="put {port} in the app's command so each replica listens on its own port, "
                                     "not a fixed one")
        return None

    def serve(self, serving: list[tuple[str, int]], balancer_up: bool) -> None:
        """Make ``serving`` the balancer's set (a graceful reload) and the recorded one."""
        from roost import gateway

        self.facts.replica_names = [name for name, _ in serving]
        self.facts.replica_ports = [port for _, port in serving]
        self.session.save()
        if balancer_up:
            gateway.configure(self.session, self.facts.replica_ports)

    def retire(self, gone: list[tuple[str, int]]) -> None:
        """Stop replicas that no longer get traffic, after in-flight requests drained."""
        if gone:
            time.sleep(DRAIN_SECONDS)
        self._remove(gone)

    def converge(self) -> list[int]:
        """Bring the replicas to the spec: start, scale, or roll out a new release one replica at
        a time (each new one probed before it takes traffic; the old ones keep running until
        every new one serves, so a failed rollout leaves the old release serving unchanged)."""
        wanted, release = self.service.initial, self.release()
        current = list(zip(self.facts.replica_names, self.facts.replica_ports))
        running = self.ctx.agent.status().apps
        balancer_up = "gateway" in running and bool(current)
        current = [(n, p) for n, p in current if n in running] if balancer_up else []
        if self.service.autoscaled and current:  # keep what the autoscaler chose, within the new bounds
            wanted = min(max(len(current), self.service.min or 1), self.service.max or wanted)
        if not current:
            self.serve(self.start(wanted, []), balancer_up)
            self.facts.replica_release = release
        elif self.facts.replica_release != release:
            self._roll(current, wanted, balancer_up)
            self.facts.replica_release = release
        elif len(current) < wanted:
            self.serve(current + self.start(wanted - len(current), current), balancer_up)
        elif len(current) > wanted:
            self.serve(current[:wanted], balancer_up)
            self.retire(current[wanted:])
        else:
            for name, port in current:  # the agents may have lost them (a restarted machine)
                machine = self.machine_of(name)
                if machine:
                    self.worker(machine).agent.put_app(
                        self.definition(name, self.facts.replica_remote[name][1], self.worker(machine)))
                self.ctx.agent.put_app(self.tunnel(name, port) if machine else self.definition(name, port))
            self._rebalance(current, wanted, balancer_up)
        self._forget_strays()
        self.session.save()
        return self.facts.replica_ports

    def _shares(self, wanted: int) -> dict[str, int]:
        """How many of ``wanted`` replicas each machine should hold (the gateway machine first)."""
        base, extra = divmod(wanted, len(self.machines))
        return {machine: base + (1 if index < extra else 0) for index, machine in enumerate(self.machines)}

    def _rebalance(self, current: list[tuple[str, int]], wanted: int, balancer_up: bool) -> None:
        """Put replicas back on machines that hold fewer than their share (a worker that was lost
        and is back): new ones there first, then as many surplus ones elsewhere drained and stopped."""
        shares = self._shares(wanted)
        held = {machine: [r for r in current if self.machine_of(r[0]) == machine] for machine in shares}
        missing = sum(max(0, shares[m] - len(held[m])) for m in shares)
        if len(self.machines) < 2 or not missing:
            return
        new = self.start(missing, current)
        surplus = []
        for _ in new:
            machine = max(shares, key=lambda m: len(held[m]) - shares[m])
            surplus.append(held[machine].pop())
        self.serve([r for r in current if r not in surplus] + new, balancer_up)
        self.retire(surplus)

    def _roll(self, current: list[tuple[str, int]], wanted: int, balancer_up: bool) -> None:
        """Replace ``current`` with ``wanted`` replicas of the new release, one at a time; on a
        failure, put the old set back in the balancer and remove the new ones (a rollback)."""
        old_release, new = self.facts.replica_release, []
        self.facts.replica_release = None  # an interrupted rollout rolls again on the next run
        try:
            for index in range(wanted):
                new += self.start(1, new)
                self.serve(new + current[index + 1:], balancer_up)  # one old replica out per new one in
        except BaseException:
            self.facts.replica_release = old_release
            self._back_to_previous_spec()
            self.serve(current, balancer_up)  # records the old set and its release again
            self.retire(new)
            raise
        self.serve(new, balancer_up)
        self.retire(current)

    def _back_to_previous_spec(self) -> None:
        """Record the spec of the release that still serves (its probe, its command) again."""
        from roost.apps import app_driver

        previous = self.session.previous_spec
        if previous is not None:
            self.session.record.spec = previous
            self.session.driver = app_driver(previous)
            self.session.save()

    def _forget_strays(self) -> None:
        """Remove replicas the agent runs that are not in the serving set (an interrupted rollout's)."""
        keep = set(self.facts.replica_names)
        for name in [name for name in self.facts.replica_remote if name not in keep]:
            self.facts.replica_remote.pop(name)
        agents = [self.ctx.agent, *(self.worker(machine).agent for machine in self.machines[1:])]
        for agent in agents:
            for name in agent.status().apps:
                if name.startswith(f"{self.driver.name}-") and name[len(self.driver.name) + 1:].isdigit() \
                        and name not in keep:
                    agent.remove_app(name)
        for machine in self.machines[1:]:
            self._authorize(machine)


def steps(session: MachineSession, progress: Progress) -> list[Step]:
    """Bring the worker machines up, start (or roll) the replicas, then the balancer over them
    (then its CA, when shared), then the controller that keeps them healthy."""
    from roost import gateway
    from roost.autoscale import pause_controller, start_controller
    from roost.placement import up_workers
    from roost.routes import steps as route_steps

    spec = session.record.spec
    assert spec.service and session.driver
    service, ports = spec.service, []
    routes_before, routes_after = route_steps(session)
    keeper = (f"start the autoscaler ({service.min}-{service.max} replicas, {service.target_rps:g} requests/s each)"
              if service.autoscaled else "start the controller (keeps every replica healthy)")
    return [
        *([Step("workers", f"bring up {service.machines - 1} worker machine(s)",
                lambda: up_workers(session, progress), always=True)] if service.machines > 1 else []),
        Step("capacity", "check the machines hold every replica", lambda: check_capacity(session), always=True),
        Step("controller-pause", "take the replicas back from the controller", lambda: pause_controller(session),
             always=True),
        *routes_before,
        Step("replicas", f"start {service.initial} replica(s) of {session.driver.name}",
             lambda: ports.extend(Replicas(session).converge()), always=True),
        Step("gateway", "start the load balancer", lambda: gateway.configure(session, ports), always=True),
        *routes_after,
        *(gateway.steps(session)[1:] if spec.share else []),
        Step("controller", keeper, lambda: start_controller(session), always=True),
    ]


def check_capacity(session: MachineSession) -> None:
    """Refuse replicas the machines cannot hold, saying what is missing (CPUs, memory) where."""
    from roost.placement import worker_names, worker_session

    service, record = session.record.spec.service, session.record
    assert service
    need = service.resources
    if need.cpus is None and need.memory_gib is None:
        return
    count = -(-service.most // service.machines)  # the most replicas one machine holds
    for machine in [session, *(worker_session(name) for name in worker_names(record.spec))]:
        missing = _missing(machine, count, need.cpus, need.memory_gib)
        if missing:
            raise SpecError(f"machine '{machine.record.name}' cannot hold {count} replicas: " + "; ".join(missing)
                            + "; nothing was started", file=record.spec.source, field="service",
                            hint="lower replicas (or max), lower service.resources, spread over more machines, "
                                 "or use bigger ones")


def _missing(session: MachineSession, count: int, cpus_each: float | None, gib_each: float | None) -> list[str]:
    """What ``count`` replicas need beyond what the machine has (empty when it holds them)."""
    found = session.backend.runner(session.record).run("nproc; grep MemTotal /proc/meminfo", timeout=30).check(
        "read the machine's CPUs and memory").stdout.split()
    cpus, memory_gib = int(found[0]), int(found[2]) / 1024 / 1024
    missing = []
    if cpus_each and count * cpus_each > cpus:
        missing.append(f"{count} × {cpus_each:g} CPUs = {count * cpus_each:g} CPUs, it has {cpus} "
                       f"({count * cpus_each - cpus:g} missing)")
    if gib_each and count * gib_each > memory_gib:
        missing.append(f"{count} × {gib_each:g} GiB = {count * gib_each:g} GiB of memory, it has "
                       f"{memory_gib:.1f} GiB ({count * gib_each - memory_gib:.1f} GiB missing)")
    return missing


def update(name: str, target: str | Path | Spec, *, progress: Progress | None = None) -> UpResult:
    """Roll the running service ``name`` to the spec ``target``, one replica at a time with no
    failed request; a new release whose probe never answers is rolled back (the old one serves)."""
    from roost import lifecycle
    from roost.state import find_record

    spec = lifecycle.resolve_spec(target, name)
    record = find_record(name)
    if record is None or record.spec.service is None:
        raise AppError(f"no service '{name}' to update", hint="`roost serve SPEC` starts one")
    if spec.service is None:
        raise SpecError("the new spec has no 'service:' block", file=spec.source, field="service",
                        hint="keep the service block in the new release's spec")
    return lifecycle.up(spec, progress=progress, reconcile=True)


def status(name: str) -> ServiceStatus:
    """The service's replicas (agent: state, health, restarts; Caddy: open requests, failures)
    and its requests per second over one second."""
    session = load_session(name)
    spec, driver = session.record.spec, session.driver
    if spec.service is None or driver is None:
        raise AppError(f"machine '{name}' runs no service", hint="add 'service:' to its spec and `roost serve` it")
    apps = session.agent.status().apps
    seen = {entry["address"]: entry for entry in _admin_json(session, "/reverse_proxy/upstreams") or []}
    from roost.autoscale import controller_state, serving, serving_remote

    replicas, remote, workers = [], serving_remote(session, apps), _worker_apps(session)
    for replica, port in serving(session, apps):
        app = apps.get(replica)  # the replica, or the tunnel to it (healthy when the replica answers through it)
        machine = remote[replica][0] if replica in remote else name
        if machine == name:
            there, state = app, app.state if app else "missing"
        else:
            there = workers[machine].get(replica) if machine in workers else None
            state = there.state if there else ("missing" if machine in workers else "unreachable")
        caddy = seen.get(f"127.0.0.1:{port}", {})
        replicas.append(ReplicaStatus(name=replica, machine=machine, port=port, state=state,
                                      healthy=bool(app and app.healthy and there and there.healthy),
                                      restarts=there.restarts if there else 0, pid=there.pid if there else None,
                                      in_flight=caddy.get("num_requests"), fails=caddy.get("fails")))
    routes = {path: [_local_status(name, replica, port, apps.get(replica), seen) for replica, port in group]
              for path, group in session.record.facts.route_replicas.items()}
    state = controller_state(session) or {}
    return ServiceStatus(name=name, url=session.url(), replicas=replicas, routes=routes,
                         requests_per_second=_request_rate(session), events=state.get("events", [])[-10:],
                         desired=state.get("desired") if spec.service.autoscaled else None)


def _local_status(machine: str, name: str, port: int, app: object, seen: dict) -> ReplicaStatus:
    """A replica on the gateway machine as its agent and Caddy see it."""
    caddy = seen.get(f"127.0.0.1:{port}", {})
    return ReplicaStatus(name=name, machine=machine, port=port, state=app.state if app else "missing",
                         healthy=bool(app and app.healthy), restarts=app.restarts if app else 0,
                         pid=app.pid if app else None, in_flight=caddy.get("num_requests"), fails=caddy.get("fails"))


def _worker_apps(session: MachineSession) -> dict[str, dict]:
    """What each worker machine's agent runs (a worker that does not answer is left out)."""
    from roost.errors import RoostError
    from roost.placement import worker_names, worker_session

    found = {}
    for machine in worker_names(session.record.spec):
        try:
            found[machine] = worker_session(machine).agent.status().apps
        except RoostError:
            continue
    return found


def _admin_json(session: MachineSession, path: str) -> object | None:
    """GET ``path`` from Caddy's admin socket on the machine, through the agent (None when it
    does not answer); JSON parsed, other text as it is."""
    from roost import gateway

    agent = session.agent
    result = agent.runner.run(agent.command("http-get", gateway.admin_socket(session), path), timeout=30, check=False)
    if not result.ok:
        return None
    try:
        return json.loads(result.stdout)
    except ValueError:
        return result.stdout


def _request_rate(session: MachineSession) -> float | None:
    """Requests per second through the balancer, from Caddy's request counter sampled 1 s apart."""
    def total() -> float | None:
        text = _admin_json(session, "/metrics")
        if not isinstance(text, str):
            return None
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("caddy_http_requests_total{"))

    first = total()
    started = time.monotonic()
    time.sleep(1.0)
    second = total()
    if first is None or second is None:
        return None
    return max(0.0, second - first) / (time.monotonic() - started)
