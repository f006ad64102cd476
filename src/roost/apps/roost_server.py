"""``app: roost-server``: roost's own server as an app roost hosts, for a team to share one view.

It runs from its own venv (roost's dependencies, then roost's wheel from this computer), on the
machine's 127.0.0.1 with a ROOST_HOME of its own, and acts with that machine's credentials. Its
login is its token (kept in this computer's vault, 0600 on the machine); shared, the gateway
adds TLS in front. Its state database is its data: backed up like Label Studio's.
"""

from __future__ import annotations

import hashlib
import shlex

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.roost_wheel import dependencies, own_wheel
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import RoostServerApp

TOKEN_KEY = "roost-server-token"
STATE_FILES = ("state.db", "state.db-wal", "state.db-shm")


class RoostServerDriver(AppDriver):
    """roost server as a roost app."""

    name = "roost-server"
    url_path = "/"
    secret_key = TOKEN_KEY
    has_own_login = True
    keeps_data = True
    health_timeout = 120.0

    def __init__(self, options: RoostServerApp) -> None:
        self.options = options

    def _venv(self, ctx: AppContext) -> str:
        return f"{ctx.home}/venvs/roost-server"

    def data_dir(self, home: str) -> str:
        """The server's ROOST_HOME on the machine (its state, keys and token)."""
        return f"{home}/roost-server"

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install roost's dependencies and roost's wheel, then give the server its token."""
        wheel = own_wheel()
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        return [
            Step(
                "roost-server-install",
                f"install roost {wheel.name.split('-')[1]} (its server)",
                lambda: self._install(ctx, wheel.read_bytes(), wheel.name),
                inputs=fingerprint([digest, *dependencies()]),
            ),
            Step(
                "roost-server-configure", "give the server its login token", lambda: self._configure(ctx), always=True
            ),
        ]

    def _install(self, ctx: AppContext, wheel: bytes, name: str) -> None:
        venv = self._venv(ctx)
        ensure_venv(ctx.runner, ctx.tools, venv, dependencies())
        target = f"{ctx.home}/wheels/{name}"
        ctx.runner.run(["mkdir", "-p", f"{ctx.home}/wheels"], timeout=30).check("make the wheels folder")
        ctx.runner.write_file(target, wheel, mode=0o600)
        env = {"UV_CACHE_DIR": ctx.tools.uv_cache, "UV_NO_PROGRESS": "1", "VIRTUAL_ENV": ""}
        ctx.runner.run(
            [ctx.tools.uv, "pip", "install", "--quiet", "--offline", "--no-deps", "--reinstall-package", "roost",
             "--python", f"{venv}/bin/python", target],
            env=env, timeout=300,
        ).check("install roost's wheel")  # fmt: skip

    def _configure(self, ctx: AppContext) -> None:
        home = self.data_dir(ctx.home)
        ctx.runner.run(
            f"mkdir -p -m 700 {shlex.quote(home)}/server && chmod 700 {shlex.quote(home)}", timeout=30
        ).check("make the server's home")
        token = ctx.vault.get_or_create(TOKEN_KEY, 32)
        ctx.runner.write_file(f"{home}/server/token", token.encode(), mode=0o600)

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``python -m roost server`` on 127.0.0.1:PORT with its own ROOST_HOME."""
        port = ctx.record.facts.app.port
        venv = self._venv(ctx)
        return AppDefinition(
            name=self.name,
            argv=[
                f"{venv}/bin/python",
                "-m",
                "roost",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--probe-every",
                str(self.options.probe_every),
            ],
            cwd=self.data_dir(ctx.home),
            env={
                "HOME": f"{ctx.home}/home",
                "ROOST_HOME": self.data_dir(ctx.home),
                "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
                **ctx.record.spec.envs,
            },
            port=port,
            health_path="/healthz",
        )

    def login_hint(self, ctx: AppContext) -> str:
        """The token logs in (a browser: the URL with ?token=; the CLI: ROOST_SERVER_TOKEN)."""
        name = ctx.record.name
        return (
            f"open the URL with ?token=TOKEN once, or set ROOST_SERVER=URL ROOST_SERVER_TOKEN=TOKEN for the CLI; "
            f"the token: `roost password {name}`"
        )

    def backup_config(self, ctx: AppContext) -> dict[str, object]:
        """Its state database is what a backup holds; a restore keeps the machine's keys and token."""
        return {
            "data": self.data_dir(ctx.home),
            "app": self.name,
            "postgres": None,
            "sqlite_file": "state.db",
            "count_sql": "select count(*) from machines",
            "carry_except": list(STATE_FILES),
        }
