"""What the agent keeps watch over by itself: the machine's spend (its budget), its events and
their notifications. Nothing here needs roost's client, its server or the network beyond the
notification itself, so the cap holds while the user's laptop is closed.

The meter counts the seconds the agent has run on this machine (meter.json, kept across
restarts and machine stops); spend is those seconds at config.json's ``budget.hourly_usd``.
At ``warn_at`` of ``max_usd`` a warning event is recorded and sent once per budget; at the cap
a "budget reached" event is recorded and sent, and the supervisor stops the machine.

Events are lines of events.jsonl (the newest 50 appear in status.json, for roost to pick up).
A notification runs the machine's own apprise (installed by roost when the spec has
``notify``) with the URLs in the environment, read from a 0600 file: never in argv or a log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from .base import Paths, log, read_json, write_json_atomic

MAX_GAP_SECONDS = 30.0
"""A longer gap between two ticks is time the agent did not run (a machine stopped, a
suspended process): not counted. The supervisor ticks every second or two."""
KEEP_EVENTS = 50


class Watch:
    """The meter, the budget check and the event log of one agent home."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.meter_file = os.path.join(paths.agent, "meter.json")
        self.events_file = os.path.join(paths.agent, "events.jsonl")
        self.meter = read_json(self.meter_file) or {"seconds": 0.0, "warned_for": None, "reached_for": None}
        self.last_tick: float | None = None
        self.last_saved = 0.0

    # -- the meter and the budget

    def tick(self, now: float, config: dict) -> str | None:
        """Count the time since the last tick; "budget" when the machine must stop for it."""
        if self.last_tick is not None and 0 < now - self.last_tick <= MAX_GAP_SECONDS:
            self.meter["seconds"] += now - self.last_tick
        self.last_tick = now
        verdict = self.check_budget(config.get("budget"))
        if now - self.last_saved >= 5 or verdict:
            self.save(now)
        return verdict

    def spent_usd(self, budget: dict | None) -> float | None:
        """What the machine has cost so far at its price (None without a price)."""
        if not budget or budget.get("hourly_usd") is None:
            return None
        return float(budget["hourly_usd"]) * self.meter["seconds"] / 3600.0

    def check_budget(self, budget: dict | None) -> str | None:
        spent = self.spent_usd(budget)
        if spent is None or budget is None:
            return None
        cap = float(budget["max_usd"])
        if spent >= cap:
            if self.meter.get("reached_for") != cap:
                self.meter["reached_for"] = cap
                then = "taking it down" if budget.get("then") == "down" else "stopping it"
                self.event("budget reached", f"spent ${spent:.2f} of its ${cap:.2f} budget; {then}")
            return "budget"
        warn = cap * float(budget.get("warn_at", 0.8))
        if spent >= warn and self.meter.get("warned_for") != cap:
            self.meter["warned_for"] = cap
            self.event("budget warning", f"spent ${spent:.2f} of its ${cap:.2f} budget")
        return None

    def save(self, now: float) -> None:
        self.meter["updated_at"] = now
        write_json_atomic(self.meter_file, self.meter)
        self.last_saved = now

    def status(self, config: dict) -> dict:
        """For status.json: running seconds metered, spend, the budget, the newest events."""
        budget = config.get("budget")
        return {
            "seconds": self.meter["seconds"],
            "spent_usd": self.spent_usd(budget),
            "max_usd": budget.get("max_usd") if budget else None,
            "events": self.recent_events(),
        }

    # -- events and notifications

    def event(self, kind: str, message: str) -> None:
        """Record an event (a line of events.jsonl) and send it to the machine's notify targets."""
        at = time.time()
        log(f"event: {kind}: {message}")
        entry = {"at": at, "kind": kind, "message": message, "notified": self.notify(kind, message)}
        fd = os.open(self.events_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def recent_events(self) -> list[dict]:
        try:
            with open(self.events_file) as handle:
                lines = handle.readlines()[-KEEP_EVENTS:]
        except OSError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash
        return events

    def notify(self, kind: str, message: str) -> bool:
        """Send one notification through apprise (True when apprise said it was delivered)."""
        settings = (read_json(self.paths.config_file) or {}).get("notify")
        if not settings:
            return False
        try:
            with open(settings["urls_file"]) as handle:
                urls = handle.read().strip()
        except OSError as exc:
            log(f"notify: cannot read the notify targets: {exc.strerror}")
            return False
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.paths.home, "APPRISE_URLS": urls}
        title = f"roost: {settings.get('machine', 'machine')}: {kind}"
        try:
            done = subprocess.run(
                [settings["apprise"], "--title", title, "--body", message],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log(f"notify: apprise did not run: {exc}")
            return False
        if done.returncode:  # its output is not logged: apprise may quote a URL, token and all
            log(f"notify: apprise exited {done.returncode} (1: not delivered, 2: a target it cannot use)")
        return done.returncode == 0
