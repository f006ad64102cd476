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


def server_verbs() -> Any:
    """The verbs done by a roost server: ``ROOST_SERVER``'s, else the one running on this
    computer for this ROOST_HOME; RoostError saying how to start one when there is none."""
    if os.environ.get("ROOST_SERVER"):
        return verbs()
    from roost.errors import RoostError
    from roost.server.client import RemoteRoost
    from roost.server.token import login_token, running

    found = running()
    if found is None:
        raise RoostError(
            "`--detach` hands the job to a roost server, and none runs here",
            hint="start one with `roost server` (or `roost dashboard`, in the background), "
            "or set ROOST_SERVER and ROOST_SERVER_TOKEN to one elsewhere",
        )
    return RemoteRoost(found.url, login_token())
