"""The apps a spec may ask for (``app:``), one model each, told apart by ``type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from roost.spec.base import Duration, Package, Strict


class AppBase(Strict):
    """Options every app shares."""

    port: int | None = Field(default=None, ge=1024, le=65535)


class JupyterApp(AppBase):
    """JupyterLab with a generated password, bound to 127.0.0.1."""

    type: Literal["jupyter"] = "jupyter"
    version: str = "4.6.6"
    packages: list[Package] = Field(default_factory=list)


class LabelStudioApp(AppBase):
    """Label Studio with a generated first admin, sign-up by invitation only."""

    type: Literal["label-studio"]
    version: str = "1.23.2"
    database: Literal["sqlite", "postgres"] = "sqlite"
    """sqlite (a file in the data directory) or postgres (roost's own PostgreSQL cluster on the machine)."""


class StreamlitApp(AppBase):
    """A Streamlit script from the workdir, in its own venv."""

    type: Literal["streamlit"]
    script: str = Field(pattern=r"^[^/~].*\.py$")
    version: str = "1.67.0"
    packages: list[Package] = Field(default_factory=list)


class TensorboardApp(AppBase):
    """TensorBoard over a log directory inside the workdir (default ``runs/``)."""

    type: Literal["tensorboard"]
    version: str = "2.21.0"
    logdir: str = "runs"
    """A folder inside the workdir, where jobs write their event files."""

    @field_validator("logdir")
    @classmethod
    def _inside_workdir(cls, value: str) -> str:
        parts = value.replace("\\", "/").split("/")
        if not value or value.startswith(("/", "~")) or ".." in parts or any(ord(c) < 32 for c in value):
            raise ValueError(
                f"logdir '{value}' is not a folder inside the workdir; give a relative path without '..', like runs"
            )
        return value.strip("/") or "."


class CommandApp(AppBase):
    """Any web tool started by a command; ``{port}`` in it is replaced by the app's port."""

    type: Literal["command"]
    command: str
    health_path: str = "/"


class MlflowApp(AppBase):
    """An MLflow tracking server and UI: runs in SQLite, artifacts in a folder, both backed up."""

    type: Literal["mlflow"]
    version: str = "3.17.2"


class RoostServerApp(AppBase):
    """``roost server`` itself: the API and dashboard, its state backed up like Label Studio's."""

    type: Literal["roost-server"]
    probe_every: Duration = 10.0
    """Seconds between the server's background health probes of its machines."""


App = Annotated[
    JupyterApp | LabelStudioApp | StreamlitApp | TensorboardApp | MlflowApp | CommandApp | RoostServerApp,
    Field(discriminator="type"),
]
APP_TYPES = ("jupyter", "label-studio", "streamlit", "tensorboard", "mlflow", "command", "roost-server")
