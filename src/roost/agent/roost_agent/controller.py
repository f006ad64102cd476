"""A service's controller: runs under the agent on the gateway machine while the service runs.

It owns the replica set from the moment roost starts it (roost takes the set back before a
rolling update). Every second it samples the balancer's request counter (Caddy's metrics on
its admin socket) and keeps ``ceil(rate / target_rps)`` replicas, within [min, max] (both the
declared count for a service that does not autoscale), changing the count by one at most every
``cooldown`` seconds. A replica is an app of the agent (the definition roost gave, on a free
port); a replica whose probe keeps failing is restarted. A replica on another machine is
reached through a tunnel (an app of this agent too): when it still fails after its tunnel was
restarted, its machine is taken as lost and a replica on this machine takes its place (roost
places it on the workers again on the next ``roost serve``), if this machine has room for one
more replica of the service's ``resources`` (else the lost one waits for its machine).
Caddy gets each new set as a graceful reload; a replica leaves the balancer before it stops.
It also counts each replica's requests from the balancer's log of its round trips (see
``upstream_stats``). Its state file (``replicas``, ``rate``, ``desired``, ``upstreams``) is what
``roost serve status`` shows.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
from collections import deque

from .base import Paths, log, read_json, unix_http_get, write_json_atomic
from .upstream_stats import UpstreamStats


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Controller:
    """The control loop for one service (see the module docstring)."""

    def __init__(self, paths: Paths, config_path: str) -> None:
        self.paths = paths
        self.config = read_json(config_path) or {}
        self.state_path = self.config["state"]
        state = read_json(self.state_path) or {}
        self.replicas: list[dict] = state.get("replicas") or self.config["replicas"]
        self.serial = max([self.config.get("serial", 0)] + [int(r["name"].rsplit("-", 1)[1]) for r in self.replicas])
        self.samples: deque = deque()
        self.last_change = time.time()
        self.unhealthy_since: dict[str, float] = {}
        self.restarted: set[str] = set()
        self.full = False  # no room here for another replica (said once until there is again)
        self.events: list[dict] = list(state.get("events") or [])
        self.rate, self.desired = 0.0, len(self.replicas)
        self.upstreams = (
            UpstreamStats(self.config["upstream_log"], float(self.config["window_seconds"]))
            if self.config.get("upstream_log")
            else None
        )

    # -- the balancer

    def request_total(self) -> float | None:
        text = unix_http_get(self.config["admin"], "/metrics")
        if text is None:
            return None
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("caddy_http_requests_total{")
        )

    def reload(self) -> None:
        upstreams = " ".join(f"127.0.0.1:{r['port']}" for r in self.replicas)
        config = self.config["caddyfile_template"].replace("__UPSTREAMS__", upstreams)
        path = self.config["caddyfile"]
        with open(path + ".tmp", "w") as handle:
            handle.write(config)
        os.replace(path + ".tmp", path)
        done = subprocess.run(
            [
                "caddy",
                "reload",
                "--config",
                path,
                "--adapter",
                "caddyfile",
                "--address",
                f"unix/{self.config['admin']}",
            ],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(path),
            timeout=60,
        )
        if done.returncode:
            log(f"controller: caddy reload failed: {done.stderr.strip()[-300:]}")
        self.save()

    # -- replicas

    def put(self, replica: dict, nonce: str = "") -> None:
        if replica.get("definition"):  # the tunnel to a replica on another machine
            definition = dict(replica["definition"])
        else:
            definition = json.loads(self.config["definition"].replace("__PORT__", str(replica["port"])))
        definition["name"] = replica["name"]
        if nonce:
            definition.setdefault("env", {})["ROOST_RESTART"] = nonce
        write_json_atomic(os.path.join(self.paths.apps, replica["name"] + ".json"), definition)

    def healthy(self, name: str) -> bool:
        app = ((read_json(self.paths.status_file) or {}).get("apps") or {}).get(name) or {}
        return bool(app.get("healthy"))

    def has_room(self) -> bool:
        """True when this machine holds one more replica of the service's resources; a refusal is
        logged and kept as an event once, until a replica fits again."""
        room = self.config.get("room")
        here = sum(1 for replica in self.replicas if not replica.get("machine"))
        if room is None or here < room:
            self.full = False
            return True
        if not self.full:
            log(f"controller: this machine holds {room} replica(s) of service.resources; not adding another")
            self.event("no room", f"{here} of {room}", reason="service.resources")
        self.full = True
        return False

    def add(self) -> bool:
        """Start one more replica on this machine; True once it is healthy and in the balancer
        (False when it has no room for one or the new one never became healthy)."""
        if not self.has_room():
            return False
        self.serial += 1
        replica = {"name": f"{self.config['prefix']}{self.serial}", "port": free_port()}
        self.put(replica)
        deadline = time.time() + float(self.config.get("ready_within", 60))
        while not self.healthy(replica["name"]):
            if time.time() > deadline:
                log(f"controller: new replica {replica['name']} never became healthy; removed")
                os.unlink(os.path.join(self.paths.apps, replica["name"] + ".json"))
                return False
            time.sleep(0.2)
        self.replicas.append(replica)
        self.event("added", replica["name"])
        log(f"controller: added {replica['name']} (rate {self.rate:.1f}/s, {len(self.replicas)} replicas)")
        self.reload()
        return True

    def remove(self, replica: dict | None = None) -> None:
        replica = replica or self.replicas[-1]
        self.replicas.remove(replica)
        self.reload()
        time.sleep(float(self.config.get("drain_seconds", 2.0)))  # roost.service.base.DRAIN_SECONDS
        try:
            os.unlink(os.path.join(self.paths.apps, replica["name"] + ".json"))
        except FileNotFoundError:
            pass
        self.event("removed", replica["name"])
        log(f"controller: removed {replica['name']} (rate {self.rate:.1f}/s, {len(self.replicas)} replicas)")
        self.save()

    def restart_stuck(self, now: float) -> None:
        """A replica alive but failing its probe for three intervals is restarted; one on another
        machine still failing three intervals after that is replaced here (its machine is lost)."""
        limit = max(3.0, 3 * float(self.config.get("probe_interval", 2.0)))
        for replica in list(self.replicas):
            name = replica["name"]
            if self.healthy(name):
                self.unhealthy_since.pop(name, None)
                self.restarted.discard(name)
            elif now - self.unhealthy_since.setdefault(name, now) > limit:
                self.unhealthy_since.pop(name, None)
                if replica.get("machine") and name in self.restarted:
                    self.replace_lost(replica)
                    continue
                log(f"controller: {name} failed its probe for {limit:.0f}s; restarting it")
                self.put(replica, nonce=str(now))
                self.restarted.add(name)
                self.event("restarted", name)

    def replace_lost(self, replica: dict) -> None:
        """Put a replica on this machine in place of one whose machine no longer answers."""
        log(f"controller: {replica['name']} on {replica['machine']} is unreachable; replacing it on this machine")
        if self.add():  # the new one serves from here on
            self.event("replaced", replica["name"], machine=replica["machine"], by=self.replicas[-1]["name"])
            self.remove(replica)
            self.restarted.discard(replica["name"])

    def event(self, kind: str, name: str, **details: str) -> None:
        """Remember what the controller did (the newest 50), for `roost serve status`."""
        self.events = (self.events + [{"at": time.time(), "event": kind, "replica": name, **details}])[-50:]

    # -- the loop

    def step(self, now: float) -> None:
        if self.upstreams is not None:
            self.upstreams.read(now)
        total = self.request_total()
        if total is not None:
            self.samples.append((now, total))
        window = float(self.config["window_seconds"])
        while self.samples and now - self.samples[0][0] > window:
            self.samples.popleft()
        if len(self.samples) >= 2 and self.samples[-1][0] > self.samples[0][0]:
            (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
            self.rate = max(0.0, c1 - c0) / (t1 - t0)
        self.desired = min(
            self.config["max"], max(self.config["min"], math.ceil(self.rate / self.config["target_rps"]))
        )
        if now - self.last_change >= float(self.config["cooldown_seconds"]):
            if self.desired > len(self.replicas):
                self.add()
                self.last_change = time.time()
            elif self.desired < len(self.replicas):
                self.remove()
                self.last_change = time.time()
        self.restart_stuck(now)
        self.save()

    def save(self) -> None:
        write_json_atomic(
            self.state_path,
            {
                "replicas": self.replicas,
                "rate": self.rate,
                "desired": self.desired,
                "last_change": self.last_change,
                "updated_at": time.time(),
                "events": self.events,
                "window_seconds": self.config["window_seconds"],
                "upstreams": self.upstreams.summary(time.time()) if self.upstreams else {},
            },
        )

    def run(self) -> int:
        log(
            f"controller for {self.config.get('service')}: {len(self.replicas)} replicas, "
            f"min {self.config['min']}, max {self.config['max']}, target {self.config['target_rps']}/s per replica"
        )
        self.save()
        while True:
            self.step(time.time())
            time.sleep(1.0)
