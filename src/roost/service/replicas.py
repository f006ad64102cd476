"""One service's replicas: started, probed, placed over its machines, swapped and removed.

Each replica is the app's own definition on a port of its own, supervised by the agent
(a replica that dies is restarted with backoff) and named ``APP-1``, ``APP-2``, ... A
replica on a worker machine (see :mod:`roost.service.placement`) runs under the worker's agent and
is reached through a tunnel the gateway machine's agent runs under the same name.
"""

from __future__ import annotations

import time

from roost.agent.client import AppDefinition
from roost.apps import AppContext, app_driver
from roost.errors import AppError, RoostError
from roost.gateway import site as gateway
from roost.machine.steps import fingerprint
from roost.service import routes
from roost.service.base import DRAIN_SECONDS, free_ports, variables
from roost.service.placement import authorize, pin_host_key, tunnel_definition, tunnel_key, worker_names, worker_session
from roost.session import MachineSession


def _replica_context(ctx: AppContext, port: int) -> AppContext:
    facts = ctx.record.facts
    replica_facts = facts.model_copy(update={"app": facts.app.model_copy(update={"port": port})})
    record = ctx.record.model_copy(update={"facts": replica_facts})
    return AppContext(
        record=record,
        runner=ctx.runner,
        agent=ctx.agent,
        make_tools=ctx.make_tools,
        vault=ctx.vault,
        public_host=ctx.public_host,
    )


class Replicas:
    """Starts, probes, swaps and removes one service's replicas; the serving set is kept in
    the machine's facts after every change, so an interrupted run resumes from what serves.

    A replica on a worker machine (see :mod:`roost.service.placement`) runs under the worker's agent;
    the gateway's agent runs its tunnel under the same name, and that is what Caddy sees."""

    def __init__(self, session: MachineSession) -> None:
        spec = session.record.spec
        assert spec.service and session.driver
        self.session, self.service, self.driver = session, spec.service, session.driver
        self.ctx = session.context()
        self.facts = session.record.facts.service
        self.machines = ["", *worker_names(spec)]  # "" is the gateway machine itself
        self._workers: dict[str, MachineSession] = {}
        self._pinned: dict[str, str] = {}  # worker -> its host key file on the gateway machine
        self._key: str | None = None  # the gateway's tunnel key (public half)

    def worker(self, machine: str) -> MachineSession:
        """The session of worker machine ``machine`` (opened once)."""
        if machine not in self._workers:
            self._workers[machine] = worker_session(machine)
        return self._workers[machine]

    def machine_of(self, name: str) -> str:
        """The machine replica ``name`` runs on ("" for the gateway machine)."""
        remote = self.facts.replica_remote.get(name)
        return remote[0] if remote else ""

    def definition(self, name: str, port: int, worker: MachineSession | None = None) -> AppDefinition:
        """What the agent runs for one replica: the app's own definition on ``port``, probed on the probe path."""
        ctx = worker.context() if worker else self.ctx
        own = self.driver.definition(_replica_context(ctx, port))
        return own.model_copy(
            update={"name": name, "health_path": self.service.probe.path, "env": {**own.env, **variables(self.session)}}
        )

    def tunnel(self, name: str, local_port: int) -> AppDefinition:
        """The gateway's tunnel to remote replica ``name``."""
        machine, remote_port = self.facts.replica_remote[name]
        if machine not in self._pinned:
            self._pinned[machine] = pin_host_key(self.session, self.worker(machine))
        return tunnel_definition(
            self.session,
            self.worker(machine),
            self._pinned[machine],
            name,
            local_port,
            remote_port,
            self.service.probe.path,
            self.service.probe.interval_seconds,
        )

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
        ports = free_ports(self.session, count, set(self.facts.replica_ports))
        for name, machine in placed:
            if machine:
                worker, taken = (
                    self.worker(machine),
                    {p for m, p in self.facts.replica_remote.values() if m == machine},
                )
                remote = next(p for p in iter(worker.agent.free_port, None) if p not in taken)
                worker.agent.put_app(self.definition(name, remote, worker))
                self.facts.replica_remote[name] = (machine, remote)
        self.session.save()
        for machine in {machine for _, machine in placed if machine}:
            self._authorize(machine)
        started, digests = [(name, port) for (name, _), port in zip(placed, ports)], {}
        for (name, machine), port in zip(placed, ports):
            digests[name] = self.ctx.agent.put_app(self.tunnel(name, port) if machine else self.definition(name, port))
        try:
            self.ctx.agent.wait_all_healthy(
                digests,
                self.service.probe.ready_within_seconds,
                log_hint=lambda name: (
                    f"the probe of replica {name} never answered; the replicas that served before still serve"
                ),
            )
        except BaseException:
            clash = self._port_clash(started)
            self._remove(started)
            if clash:
                raise clash from None
            raise
        return started

    def _authorize(self, machine: str) -> None:
        """Let the gateway's tunnels reach exactly the replica ports now on ``machine``."""
        ports = [port for m, port in self.facts.replica_remote.values() if m == machine]
        if ports and self._key is None:
            self._key = tunnel_key(self.session)
        authorize(self.session, self.worker(machine), ports, self._key or "")

    def _remove(self, replicas: list[tuple[str, int]]) -> None:
        """Remove replicas (and the tunnels to remote ones) from their agents; a worker that does
        not answer keeps its replica until the next converge finds it a stray."""
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
                return AppError(
                    f"replica {name} could not listen: its address is already in use (roost gave it "
                    f"port {port}); the replicas that served before still serve",
                    hint="put {port} in the app's command so each replica listens on its own port, not a fixed one",
                )
        return None

    def serve(self, serving: list[tuple[str, int]], balancer_up: bool) -> None:
        """Make ``serving`` the balancer's set (a graceful reload) and the recorded one."""
        self.facts.replica_names = [name for name, _ in serving]
        self.facts.replica_ports = [port for _, port in serving]
        self.session.save()
        if balancer_up:
            gateway.configure(self.session, self.facts.replica_ports, routes.upstreams(self.session))

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
                        self.definition(name, self.facts.replica_remote[name][1], self.worker(machine))
                    )
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
        old_release, new = self.facts.replica_release, list[tuple[str, int]]()
        self.facts.replica_release = None  # an interrupted rollout rolls again on the next run
        try:
            for index in range(wanted):
                new += self.start(1, new)
                self.serve(new + current[index + 1 :], balancer_up)  # one old replica out per new one in
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
                if (
                    name.startswith(f"{self.driver.name}-")
                    and name[len(self.driver.name) + 1 :].isdigit()
                    and name not in keep
                ):
                    agent.remove_app(name)
        for machine in self.machines[1:]:
            self._authorize(machine)
