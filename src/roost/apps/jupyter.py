"""JupyterLab: its own venv, a generated password hashed with argon2id, 127.0.0.1 only.

The password is made once on the client (0600 in the vault) and hashed there, in the form
jupyter_server's own ``passwd()`` writes (``argon2:`` then argon2id with its parameters), so
the hash is ready before JupyterLab is installed and the password never travels to the
machine. Only the hash is written to ``jupyter_server_config.json`` (0600). Tokens are off.
"""

from __future__ import annotations

import json

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import JupyterApp

PASSWORD_KEY = "jupyter-password"


def jupyter_password_hash(password: str) -> str:
    """``password`` hashed in the form jupyter_server's ``passwd()`` writes (``argon2:`` and an
    argon2id hash, which jupyter_server checks with argon2's own verify: the cost is in the hash).

    The cost is OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane), not
    jupyter_server's 10 passes over 8 lanes: a work factor slows the guessing of passwords people
    choose, and roost's are 144 random bits, out of reach at any cost. It takes ~0.03 CPU-s
    where jupyter_server's took ~0.1, on the launch's critical path and at every login."""
    import argon2  # only a Jupyter launch pays for loading it

    hasher = argon2.PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1)
    return "argon2:" + hasher.hash(password)


class JupyterDriver(AppDriver):
    """JupyterLab as a roost app."""

    name = "jupyter"
    url_path = "/lab"
    secret_key = PASSWORD_KEY
    has_own_login = True
    health_timeout = 120.0

    def __init__(self, options: JupyterApp) -> None:
        self.options = options

    def _dirs(self, ctx: AppContext) -> dict[str, str]:
        base = f"{ctx.home}/apps/jupyter"
        return {
            "venv": f"{ctx.home}/venvs/jupyter",
            "config": f"{base}/config",
            "data": f"{base}/data",
            "runtime": f"{base}/runtime",
            "workdir": f"{ctx.home}/workdir",
            "home": f"{ctx.home}/home",
        }

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install JupyterLab into its venv."""
        requirements = [f"jupyterlab=={self.options.version}", *self.options.packages]
        return [
            Step(
                "jupyter-install",
                f"install jupyterlab {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self._dirs(ctx)["venv"], requirements),
                inputs=fingerprint(requirements),
            )
        ]

    def config_steps(self, ctx: AppContext) -> list[Step]:
        """Write the password-only config (beside the install: it needs nothing installed)."""
        return [
            Step(
                "jupyter-configure",
                "configure jupyter (password, 127.0.0.1 only)",
                lambda: self._configure(ctx),
                inputs=fingerprint(self.options.version, ctx.record.spec.share, 1),
            )
        ]

    def _configure(self, ctx: AppContext) -> None:
        dirs = self._dirs(ctx)
        hashed = jupyter_password_hash(ctx.vault.get_or_create(PASSWORD_KEY))
        config = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port_retries": 0,
                "open_browser": False,
                "root_dir": dirs["workdir"],
                "allow_root": bool(ctx.record.facts.runs_as_root),
                # shared: requests arrive through the gateway on 127.0.0.1 with the public Host
                "allow_remote_access": ctx.record.spec.share,
                "trust_xheaders": ctx.record.spec.share,
            },
            "IdentityProvider": {"token": ""},
            "PasswordIdentityProvider": {"hashed_password": hashed, "password_required": True},
            "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
        }
        ctx.runner.write_file(
            f"{dirs['config']}/jupyter_server_config.json", json.dumps(config, indent=1).encode(), mode=0o600
        )

    def definition(self, ctx: AppContext) -> AppDefinition:
        """jupyter-lab from its venv, with every Jupyter directory inside the machine."""
        dirs = self._dirs(ctx)
        return AppDefinition(
            name=self.name,
            argv=[f"{dirs['venv']}/bin/jupyter-lab", f"--ServerApp.port={ctx.record.facts.app.port}"],
            cwd=dirs["workdir"],
            env={
                "HOME": dirs["home"],
                "PATH": f"{dirs['venv']}/bin:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_DIR": dirs["config"],
                "JUPYTER_DATA_DIR": dirs["data"],
                "JUPYTER_RUNTIME_DIR": dirs["runtime"],
                "IPYTHONDIR": f"{dirs['home']}/.ipython",
            },
            port=ctx.record.facts.app.port,
            health_path="/api",
        )

    def login_hint(self, ctx: AppContext) -> str:
        """The password lives in the vault; `roost password NAME` prints it."""
        return f"log in with the password from `roost password {ctx.record.name}`"
