"""roost: host ML tools and run training jobs on machines, securely and cheaply.

The library is the product; the CLI is a thin layer over it::

    import roost
    result = roost.up("jupyter")          # or a spec file path, or a roost.Spec
    print(result.url, result.login)
    roost.stop("jupyter"); roost.start("jupyter"); roost.down("jupyter")

Importing roost imports no cloud SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "up": "roost.lifecycle.machines", "stop": "roost.lifecycle.machines", "start": "roost.lifecycle.machines",
    "down": "roost.lifecycle.machines", "UpResult": "roost.lifecycle.machines", "DownResult": "roost.lifecycle.machines",
    "status": "roost.lifecycle.info", "open_info": "roost.lifecycle.info", "password": "roost.lifecycle.info", "logs": "roost.lifecycle.info",
    "MachineStatus": "roost.lifecycle.info", "OpenInfo": "roost.lifecycle.info",
    "Spec": "roost.spec.model", "load_spec": "roost.spec.loader", "RoostError": "roost.errors",
}

if TYPE_CHECKING:
    from roost.errors import RoostError
    from roost.lifecycle.info import MachineStatus, OpenInfo, logs, open_info, password, status
    from roost.lifecycle.machines import DownResult, UpResult, down, start, stop, up
    from roost.spec.model import Spec
    from roost.spec.loader import load_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roost' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
