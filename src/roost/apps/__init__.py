"""The app catalogue: which app names roost can bring up, and their drivers."""

from __future__ import annotations

from roost.apps.base import AppContext, AppDriver
from roost.errors import NotBuiltYet
from roost.spec.model import Spec


def app_driver(spec: Spec) -> AppDriver | None:
    """The driver for the spec's app (None without one); a clear error for apps not built yet."""
    if spec.app is None:
        return None
    if spec.app.type == "jupyter":
        from roost.apps.jupyter import JupyterDriver  # start-up time: one app's driver per command

        return JupyterDriver(spec.app)
    if spec.app.type == "streamlit":
        from roost.apps.streamlit import StreamlitDriver  # start-up time: one app's driver per command

        return StreamlitDriver(spec.app)
    if spec.app.type == "label-studio":
        from roost.apps.label_studio import LabelStudioDriver  # start-up time: one app's driver per command

        return LabelStudioDriver(spec.app)
    if spec.app.type == "command":
        from roost.apps.command import CommandDriver  # start-up time: one app's driver per command

        return CommandDriver(spec.app)
    if spec.app.type == "tensorboard":
        from roost.apps.tensorboard import TensorboardDriver  # start-up time: one app's driver per command

        return TensorboardDriver(spec.app)
    if spec.app.type == "mlflow":
        from roost.apps.mlflow import MlflowDriver  # start-up time: one app's driver per command

        return MlflowDriver(spec.app)
    if spec.app.type == "roost-server":
        from roost.apps.roost_server import RoostServerDriver  # start-up time: one app's driver per command

        return RoostServerDriver(spec.app)
    raise NotBuiltYet(  # the spec's model admits only the apps above: a new type needs its driver here
        f"the app '{spec.app.type}' is not built yet; nothing was created", hint="see APP_TYPES in roost.spec"
    )


__all__ = ["AppContext", "AppDriver", "app_driver"]
