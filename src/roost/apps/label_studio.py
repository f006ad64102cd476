"""Label Studio: its own venv, data on the machine's data path, 127.0.0.1 only, no sign-up.

The first admin account is made by roost before the app first starts (migrations, then the
user, in one run of Label Studio's own Django code), with a password generated once on
the client (0600 in the vault) and passed through stdin, never argv or the app's
environment. Telemetry and update checks are off; sign-up without an invite link is off;
health is ``/health``. Shared, it sits behind the gateway with its own login, told its
public address for links and CSRF.
"""

from __future__ import annotations

from roost.agent.client import AppDefinition
from roost.apps import postgres
from roost.apps.base import AppContext, AppDriver
from roost.apps.uvenv import ensure_venv
from roost.machine.steps import Step, fingerprint
from roost.spec.model import LabelStudioApp

PASSWORD_KEY = "label-studio-admin"
INIT_SNIPPET = """
import os, shutil, sqlite3, sys
import label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
from label_studio.server import _setup_env, _apply_database_migrations
template = os.environ.pop("ROOST_LS_TEMPLATE", "")
database = os.path.join(os.environ["LABEL_STUDIO_BASE_DATA_DIR"], "label_studio.sqlite3")
fresh = bool(template) and not os.path.exists(database)
if fresh and os.path.exists(template):
    shutil.copyfile(template, database)  # migrations already applied: seconds instead of a minute
    fresh = False
_setup_env()
_apply_database_migrations()
if fresh:  # only migrations so far, no user and no data: keep it for the next machine on this host
    os.makedirs(os.path.dirname(template), mode=0o700, exist_ok=True)
    partial = f"{template}.{os.getpid()}.partial"
    with sqlite3.connect(database) as source, sqlite3.connect(partial) as copy:
        source.backup(copy)
    os.replace(partial, template)
from organizations.models import Organization
from users.models import User
email, password = sys.stdin.read().splitlines()[:2]
user = User.objects.filter(email=email).first()
if user is None:
    user = User.objects.create_user(email=email, password=password)
    user.is_staff = user.is_superuser = True
    user.save()
elif not user.check_password(password):
    user.set_password(password)
    user.save()
org = Organization.objects.first()
if org is None:
    org = Organization.create_organization(created_by=user, title="Label Studio")
elif not org.has_user(user):
    org.add_user(user)
user.active_organization = org
user.save(update_fields=["active_organization"])
print("admin ready")
"""


def admin_email(machine: str) -> str:
    """The first admin's login name (an address Label Studio accepts; no mail is sent)."""
    return f"admin@{machine}.roost.local"


class LabelStudioDriver(AppDriver):
    """Label Studio as a roost app."""

    name = "label-studio"
    url_path = "/"
    secret_key = PASSWORD_KEY
    has_own_login = True
    keeps_data = True
    health_timeout = 300.0  # the first start runs Django's migrations

    def __init__(self, options: LabelStudioApp) -> None:
        self.options = options

    def venv(self, ctx: AppContext) -> str:
        """The app's venv on the machine."""
        return f"{ctx.home}/venvs/label-studio"

    @staticmethod
    def data_dir(home: str) -> str:
        """Where its database and uploads live on the machine (backed up by `roost backup`)."""
        return f"{home}/data/label-studio"

    @property
    def uses_postgres(self) -> bool:
        """True for ``database: postgres``."""
        return self.options.database == "postgres"

    def steps(self, ctx: AppContext) -> list[Step]:
        """Install label-studio (and find or install PostgreSQL) while the agent comes up."""
        requirements = [f"label-studio=={self.options.version}"]
        steps = [
            Step(
                "label-studio-install",
                f"install label-studio {self.options.version}",
                lambda: ensure_venv(ctx.runner, ctx.tools, self.venv(ctx), requirements, timeout=1800),
                inputs=fingerprint(requirements),
            )
        ]
        if self.uses_postgres:
            steps.insert(
                0,
                Step(
                    "postgres-install",
                    "find or install PostgreSQL",
                    lambda: postgres.ensure_installed(ctx),
                    always=True,
                ),
            )
        return steps

    def after_agent_steps(self, ctx: AppContext) -> list[Step]:
        """The database (PostgreSQL under the agent), then migrations and the first admin."""
        steps = []
        if self.uses_postgres:
            steps += [
                Step(
                    "postgres-init",
                    "create the PostgreSQL cluster",
                    lambda: postgres.init_cluster(ctx, self.postgres_layout(ctx)),
                    always=True,
                ),
                Step("postgres-start", "start PostgreSQL", lambda: self._start_postgres(ctx), always=True),
            ]
        # always: a restored database needs this machine's admin
        steps.append(
            Step(
                "label-studio-admin",
                "prepare the database and the first admin account",
                lambda: self._init(ctx),
                always=True,
            )
        )
        return steps

    def postgres_layout(self, ctx: AppContext) -> postgres.PostgresLayout:
        """Where this machine's PostgreSQL cluster, socket and programs are."""
        return postgres.layout(ctx, self.data_dir(ctx.home))

    def _start_postgres(self, ctx: AppContext) -> None:
        where = self.postgres_layout(ctx)
        ctx.agent.put_app(postgres.definition(where))
        postgres.wait_ready(ctx, where)

    def backup_config(self, ctx: AppContext) -> dict[str, object]:
        """What the snapshot and restore scripts need: the data directory and the database."""
        return {
            "data": self.data_dir(ctx.home),
            "app": self.name,
            "postgres": self.postgres_layout(ctx).script_config() if self.uses_postgres else None,
        }

    def env(self, ctx: AppContext) -> dict[str, str]:
        """Label Studio's settings: data path, no sign-up, no telemetry, no update checks."""
        env = {
            "HOME": f"{ctx.home}/home",
            "PATH": f"{self.venv(ctx)}/bin:/usr/local/bin:/usr/bin:/bin",
            "LABEL_STUDIO_BASE_DATA_DIR": self.data_dir(ctx.home),
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
            "COLLECT_ANALYTICS": "false",
            "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
            "LATEST_VERSION_CHECK": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
        }
        if self.uses_postgres:
            env.update(self.postgres_layout(ctx).client_env())
        if ctx.record.spec.share and ctx.public_host:
            env["LABEL_STUDIO_HOST"] = f"https://{ctx.public_host}"
            env["CSRF_TRUSTED_ORIGINS"] = f"https://{ctx.public_host}"
        return env

    def migrated_template(self, ctx: AppContext) -> str:
        """A SQLite database with this version's migrations applied and nothing else, shared by
        the machines of one host: a new machine starts from a copy instead of a minute of
        migrations (the admin, the secret key and all data are made per machine)."""
        return f"{ctx.tools.shared_cache}/templates/label-studio-{self.options.version}.sqlite3"

    def _init(self, ctx: AppContext) -> None:
        password = ctx.vault.get_or_create(PASSWORD_KEY)
        ctx.runner.run(f"mkdir -p {self.data_dir(ctx.home)}", timeout=30)
        stdin = f"{admin_email(ctx.record.name)}\n{password}\n".encode()
        env = self.env(ctx)
        if not self.uses_postgres:
            env["ROOST_LS_TEMPLATE"] = self.migrated_template(ctx)
        ctx.runner.run(
            [f"{self.venv(ctx)}/bin/python", "-c", INIT_SNIPPET],
            env=env,
            stdin=stdin,
            cwd=f"{ctx.home}/home",
            timeout=600,
        ).check("prepare Label Studio's database and admin")

    def definition(self, ctx: AppContext) -> AppDefinition:
        """``label-studio start`` bound to 127.0.0.1, quiet, no browser."""
        return AppDefinition(
            name=self.name,
            argv=[
                f"{self.venv(ctx)}/bin/label-studio",
                "start",
                "--no-browser",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(ctx.record.facts.app.port),
            ],
            cwd=f"{ctx.home}/home",
            env=self.env(ctx),
            port=ctx.record.facts.app.port,
            health_path="/health",
            stop_timeout=20.0,
        )

    def login_hint(self, ctx: AppContext) -> str:
        """The admin's address; the password comes from `roost password NAME`."""
        return f"log in as {admin_email(ctx.record.name)} with the password from `roost password {ctx.record.name}`"
