"""Where the CLI's verbs run: this computer's library, or a roost server (``ROOST_SERVER``)."""

from __future__ import annotations

import os
from typing import Any

import roost


def verbs() -> Any:
    """:mod:`roost` itself, or with ``ROOST_SERVER=URL`` (and ``ROOST_SERVER_TOKEN``) a client
    whose methods are the same verbs done by that server, with its state and credentials."""
    url = os.environ.get("ROOST_SERVER")
    if not url:
        return roost
    from roost.server.client import RemoteRoost  # only a CLI that talks to a server needs it

    return RemoteRoost(url, os.environ.get("ROOST_SERVER_TOKEN", ""), ca=os.environ.get("ROOST_SERVER_CA") or None)
