"""Any web tool started by a shell command; ``{port}`` in the command is its port.

Nothing is installed: the command runs in the machine's workdir with the spec's envs, bound
(by the command itself) to 127.0.0.1. The agent restarts it on a crash like any app.
"""

from __future__ import annotations

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.machine.steps import Step
from roost.spec.model import CommandApp


class CommandDriver(AppDriver):
    """A command as a roost app."""

    name = "command"
    health_timeout = 60.0

    def __init__(self, options: CommandApp) -> None:
        self.options = options
        self.url_path = options.health_path

    def steps(self, ctx: AppContext) -> list[Step]:
        """Nothing to install."""
        return []

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``sh -c COMMAND`` with ``{port}`` filled in, from the workdir."""
        port = ctx.record.facts.app.port
        command = self.options.command.replace("{port}", str(port))
        return AppDefinition(
            name=self.name,
            argv=["sh", "-c", f"exec {command}"],
            cwd=f"{ctx.home}/workdir",
            env={"HOME": f"{ctx.home}/home", **ctx.record.spec.envs},
            port=port,
            health_path=self.options.health_path,
        )
