"""The app catalogue: which app names roost can bring up, and their drivers."""

from __future__ import annotations

from roost.apps.base import AppContext, AppDriver
from roost.errors import NotBuiltYet
from roost.spec import Spec


def app_driver(spec: Spec) -> AppDriver:
    """The driver for the spec's app; a clear error for apps not built yet."""
    if spec.app is None:
        raise NotBuiltYet(f"spec '{spec.name}' has no app; machines without an app arrive with `roost run`",
                          hint="add 'app: jupyter' to the spec")
    if spec.app.type == "jupyter":
        from roost.apps.jupyter import JupyterDriver

        return JupyterDriver(spec.app)
    if spec.app.type == "command":
        from roost.apps.command import CommandDriver

        return CommandDriver(spec.app)
    raise NotBuiltYet(f"the app '{spec.app.type}' is not built yet; nothing was created",
                      hint="'jupyter' and 'command' are available now")


__all__ = ["AppContext", "AppDriver", "app_driver"]
