"""The app catalogue: which app names roost can bring up, and their drivers."""

from __future__ import annotations

import importlib

from roost.apps.base import AppContext, AppDriver
from roost.errors import NotBuiltYet
from roost.spec.model import Spec

# each app's driver, by the spec's app type: (module, class), imported only when used
DRIVERS: dict[str, tuple[str, str]] = {
    "jupyter": ("roost.apps.jupyter", "JupyterDriver"),
    "streamlit": ("roost.apps.streamlit", "StreamlitDriver"),
    "label-studio": ("roost.apps.label_studio", "LabelStudioDriver"),
    "tensorboard": ("roost.apps.tensorboard", "TensorboardDriver"),
    "mlflow": ("roost.apps.mlflow", "MlflowDriver"),
    "command": ("roost.apps.command", "CommandDriver"),
    "roost-server": ("roost.apps.roost_server", "RoostServerDriver"),
}


def app_driver(spec: Spec) -> AppDriver | None:
    """The driver for the spec's app (None without one); a clear error for an app without one."""
    if spec.app is None:
        return None
    found = DRIVERS.get(spec.app.type)
    if found is None:  # the spec's model admits only the apps above: a new type needs its driver here
        raise NotBuiltYet(
            f"the app '{spec.app.type}' is not built yet; nothing was created", hint="see APP_TYPES in roost.spec"
        )
    module, name = found
    # start-up time: one app's driver per command (importlib: the catalogue names them, not imports)
    driver: type[AppDriver] = getattr(importlib.import_module(module), name)
    return driver(spec.app)  # type: ignore[call-arg]


__all__ = ["AppContext", "AppDriver", "app_driver"]
