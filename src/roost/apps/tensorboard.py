"""TensorBoard: its own venv, 127.0.0.1 only, reading a folder of the workdir (``runs/``).

Jobs on the machine write event files there (``$ROOST_TENSORBOARD_LOGDIR`` tells them where),
so their curves show while they train; the folder is the workdir's, kept across stop/start.
TensorBoard has no login: shared, the gateway asks for one.
"""

from __future__ import annotations

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import TensorboardApp


class TensorboardDriver(AppDriver):
    """TensorBoard as a roost app."""

    name = "tensorboard"
    url_path = "/"
    health_timeout = 120.0

    def __init__(self, options: TensorboardApp) -> None:
        self.options = options

    def _venv(self, ctx: AppContext) -> str:
        return f"{ctx.home}/venvs/tensorboard"

    def logdir(self, home: str) -> str:
        """The folder TensorBoard reads, inside the workdir."""
        return f"{home}/workdir/{self.options.logdir}"

    def job_env(self, home: str, port: int | None) -> dict[str, str]:
        """Jobs write their event files where TensorBoard reads: ``$ROOST_TENSORBOARD_LOGDIR``."""
        return {"ROOST_TENSORBOARD_LOGDIR": self.logdir(home)}

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install TensorBoard and make its log folder."""
        requirements = [f"tensorboard=={self.options.version}", "setuptools"]
        return [
            Step(
                "tensorboard-install",
                f"install tensorboard {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self._venv(ctx), requirements),
                inputs=fingerprint(requirements),
            ),
            Step(
                "tensorboard-logdir",
                f"make its log folder ({self.options.logdir})",
                lambda: ctx.runner.run(["mkdir", "-p", self.logdir(ctx.home)], timeout=30).check("make the log folder"),
                always=True,
            ),
        ]

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``tensorboard --logdir DIR`` on 127.0.0.1:PORT, reloading new event files every 5 s."""
        venv, port = self._venv(ctx), ctx.record.facts.app.port
        return AppDefinition(
            name=self.name,
            argv=[
                f"{venv}/bin/tensorboard",
                "--logdir",
                self.logdir(ctx.home),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--reload_interval",
                "5",
            ],
            cwd=f"{ctx.home}/workdir",
            env={
                "HOME": f"{ctx.home}/home",
                "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                **ctx.record.spec.envs,
            },
            port=port,
            health_path="/",
        )
