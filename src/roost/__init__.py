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
    "up": "roost.lifecycle", "stop": "roost.lifecycle", "start": "roost.lifecycle",
    "down": "roost.lifecycle", "UpResult": "roost.lifecycle", "DownResult": "roost.lifecycle",
    "status": "roost.info", "open_info": "roost.info", "password": "roost.info", "logs": "roost.info",
    "MachineStatus": "roost.info", "OpenInfo": "roost.info",
    "Spec": "roost.spec", "load_spec": "roost.spec_loader", "RoostError": "roost.errors",
}

if TYPE_CHECKING:
    from roost.errors import RoostError
    from roost.info import MachineStatus, OpenInfo, logs, open_info, password, status
    from roost.lifecycle import DownResult, UpResult, down, start, stop, up
    from roost.spec import Spec
    from roost.spec_loader import load_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'roost' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
