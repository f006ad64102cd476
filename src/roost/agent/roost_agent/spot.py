"""EC2's spot interruption notice, as the instance's root relay writes it (see
roost.backends.aws.userdata: the metadata service answers root only, so the agent reads the
relay's file instead of the service).

On a spot machine roost gives the agent ``interruption: {"file": ..., "signal": ...}``. The
file appears when AWS decides to reclaim the instance (``{"action": "terminate", "time": ...}``,
two minutes ahead). On the notice the agent records an event (sent to the notify targets),
sends the chosen signal to every running job's process group, and reports the notice in
status.json, where roost's server sees it and copies a last checkpoint off the machine.
"""

from __future__ import annotations

import json
import os
import signal


def instance_action(path: str) -> dict | None:
    """The pending interruption (EC2's instance-action document), or None."""
    try:
        with open(os.path.expanduser(path), "rb") as handle:
            found = json.loads(handle.read(4096) or b"{}")
    except (OSError, ValueError):
        return None  # no notice (the usual case)
    return found if isinstance(found, dict) and found.get("action") else None


class SpotWatch:
    """Looks for the notice at each housekeeping round (one stat); acts on it once."""

    def __init__(self) -> None:
        self.notice: dict | None = None

    def tick(self, now: float, settings: dict | None) -> dict | None:
        """The notice when it has just arrived (None otherwise, and after the first time)."""
        if not settings or self.notice is not None:
            return None
        found = instance_action(settings["file"])
        if found is None:
            return None
        self.notice = {**found, "seen_at": now, "signal": settings.get("signal", "SIGTERM")}
        return self.notice

    @staticmethod
    def signal_number(name: str) -> int | None:
        """The signal to send the jobs (None: ``none``, leave them be)."""
        return None if name == "none" else int(getattr(signal, name, signal.SIGTERM))
