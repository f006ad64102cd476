"""Streamlit: a script from the workdir, its own venv, 127.0.0.1 only, telemetry off.

Its cookie secret is generated once (vault, 0600) and written into the app's own
``config.toml`` (0600) so every replica of a later issue can share it. Behind the gateway
it keeps XSRF and CORS protection on and is told its public address and port, so its
websocket origin checks pass. Streamlit has no accounts: shared, the gateway asks for a login.
"""

from __future__ import annotations

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import StreamlitApp

COOKIE_KEY = "streamlit-cookie-secret"


def _toml(values: dict[str, dict[str, object]]) -> str:
    lines = []
    for section, entries in values.items():
        lines.append(f"[{section}]")
        for key, value in entries.items():
            shown = (
                ("true" if value else "false")
                if isinstance(value, bool)
                else (str(value) if isinstance(value, int) else '"' + str(value).replace('"', '\\"') + '"')
            )
            lines.append(f"{key} = {shown}")
        lines.append("")
    return "\n".join(lines)


class StreamlitDriver(AppDriver):
    """A Streamlit app as a roost app."""

    name = "streamlit"
    url_path = "/"
    health_timeout = 120.0

    def __init__(self, options: StreamlitApp) -> None:
        self.options = options

    def _venv(self, ctx: AppContext) -> str:
        return f"{ctx.home}/venvs/streamlit"

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install streamlit (and the app's packages), then write its config."""
        requirements = [f"streamlit=={self.options.version}", *self.options.packages]
        return [
            Step(
                "streamlit-install",
                f"install streamlit {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self._venv(ctx), requirements),
                inputs=fingerprint(requirements),
            ),
            Step(
                "streamlit-configure",
                "configure streamlit (127.0.0.1 only, no telemetry)",
                lambda: self._configure(ctx),
                always=True,
            ),
        ]

    def _configure(self, ctx: AppContext) -> None:
        spec = ctx.record.spec
        server: dict[str, object] = {
            "address": "127.0.0.1",
            "port": ctx.record.facts.app.port or 0,
            "headless": True,
            "enableXsrfProtection": True,
            "enableCORS": True,
            "cookieSecret": ctx.vault.get_or_create(COOKIE_KEY, 32),
        }
        browser: dict[str, object] = {"gatherUsageStats": False}
        if spec.share and ctx.public_host:
            browser.update(serverAddress=ctx.public_host, serverPort=443)
        config = _toml({"server": server, "browser": browser, "global": {"developmentMode": False}})
        ctx.runner.write_file(f"{ctx.home}/home/.streamlit/config.toml", config.encode(), mode=0o600)

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``streamlit run SCRIPT`` from the workdir with the machine's home (and its config)."""
        venv = self._venv(ctx)
        return AppDefinition(
            name=self.name,
            argv=[f"{venv}/bin/streamlit", "run", self.options.script, f"--server.port={ctx.record.facts.app.port}"],
            cwd=f"{ctx.home}/workdir",
            port=ctx.record.facts.app.port,
            health_path="/_stcore/health",
            env={
                "HOME": f"{ctx.home}/home",
                "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                **ctx.record.spec.envs,
            },
        )
