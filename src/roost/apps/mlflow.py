"""MLflow: a tracking server and its UI in their own venv, 127.0.0.1 only.

Runs live in a SQLite file and artifacts (models) in a folder, both in the app's data folder,
so they are kept across stop/start and backed up and restored as Label Studio's database is
(the artifacts folder is the backup's ``media``). A job on the same machine finds the server
through ``MLFLOW_TRACKING_URI``. MLflow has no login: shared, the gateway asks for one.
"""

from __future__ import annotations

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import MlflowApp


class MlflowDriver(AppDriver):
    """MLflow's tracking server as a roost app."""

    name = "mlflow"
    url_path = "/"
    keeps_data = True
    health_timeout = 180.0

    def __init__(self, options: MlflowApp) -> None:
        self.options = options

    def _venv(self, ctx: AppContext) -> str:
        return f"{ctx.home}/venvs/mlflow"

    def data_dir(self, home: str) -> str:
        """Its data: ``mlflow.db`` (runs, metrics, params) and ``media/`` (artifacts)."""
        return f"{home}/apps/mlflow"

    def job_env(self, home: str, port: int | None) -> dict[str, str]:
        """Jobs log to the server on this machine."""
        return {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"} if port else {}

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install MLflow and make its data folders."""
        requirements = [f"mlflow=={self.options.version}"]
        data = self.data_dir(ctx.home)
        return [
            Step(
                "mlflow-install",
                f"install mlflow {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self._venv(ctx), requirements),
                inputs=fingerprint(requirements),
            ),
            Step(
                "mlflow-data",
                "make its data folders",
                lambda: ctx.runner.run(["mkdir", "-p", "-m", "700", f"{data}/media"], timeout=30).check("make them"),
                always=True,
            ),
        ]

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``mlflow server`` on 127.0.0.1:PORT over the SQLite store, serving the artifacts itself."""
        venv, port, data = self._venv(ctx), ctx.record.facts.app.port, self.data_dir(ctx.home)
        hosts = [f"127.0.0.1:{port}", f"localhost:{port}"] + ([ctx.public_host] if ctx.public_host else [])
        return AppDefinition(
            name=self.name,
            argv=[
                f"{venv}/bin/mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{data}/mlflow.db",
                "--artifacts-destination",
                f"{data}/media",
                "--serve-artifacts",
                "--allowed-hosts",
                ",".join(hosts),
            ],
            cwd=data,
            env={
                "HOME": f"{ctx.home}/home",
                "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                **ctx.record.spec.envs,
            },
            port=port,
            health_path="/health",
        )

    def backup_config(self, ctx: AppContext) -> dict[str, object]:
        """The runs database and the artifacts folder (as the backup's media)."""
        return {
            "data": self.data_dir(ctx.home),
            "app": self.name,
            "postgres": None,
            "sqlite_file": "mlflow.db",
            "count_sql": "select count(*) from runs",
        }
