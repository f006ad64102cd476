"""JupyterLab: its own venv, a generated password hashed by jupyter_server, 127.0.0.1 only.

The password is made once on the client (0600 in the vault), passed to jupyter_server's own
``passwd()`` on the machine through stdin (never argv, so ``ps`` cannot show it), and only
its hash is written to ``jupyter_server_config.json`` (0600). Tokens are off.
"""

from __future__ import annotations

import json

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import JupyterApp

PASSWORD_KEY = "jupyter-password"
# jupyter_server's own passwd(), loaded from its module file so the hash does not pay for
# importing the whole server (~65 ms); the package import is the fallback.
HASH_SNIPPET = """
import importlib.util, os, sys
try:
    root = importlib.util.find_spec("jupyter_server").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location(
        "_roost_jupyter_security", os.path.join(root, "auth", "security.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    passwd = module.passwd
except Exception:
    from jupyter_server.auth import passwd
sys.stdout.write(passwd(sys.stdin.read().strip()))
"""


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
        """Install JupyterLab, then write its password-only config."""
        requirements = [f"jupyterlab=={self.options.version}", *self.options.packages]
        return [
            Step(
                "jupyter-install",
                f"install jupyterlab {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self._dirs(ctx)["venv"], requirements),
                inputs=fingerprint(requirements),
            ),
            Step(
                "jupyter-configure",
                "configure jupyter (password, 127.0.0.1 only)",
                lambda: self._configure(ctx),
                inputs=fingerprint(self.options.version, ctx.record.spec.share, 1),
            ),
        ]

    def _configure(self, ctx: AppContext) -> None:
        dirs = self._dirs(ctx)
        password = ctx.vault.get_or_create(PASSWORD_KEY)
        hashed = (
            ctx.runner.run(
                [f"{dirs['venv']}/bin/python", "-I", "-c", HASH_SNIPPET], stdin=password.encode(), timeout=60
            )
            .check("hash the jupyter password")
            .stdout
        )
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
