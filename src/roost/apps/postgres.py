"""PostgreSQL for an app (``database: postgres``): roost's own cluster on the machine.

The cluster lives in the app's data directory, runs as the machine's user under the
agent, and listens on no TCP port at all: only a unix socket (0700) in a 0700 directory that
roost made and checked, and it lets in the machine's user alone (peer authentication).
PostgreSQL's programs come from the Debian/Ubuntu package: found where it is installed,
installed with apt where the machine can, else a clear error before anything changes.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from roost.agent.client import AppDefinition
from roost.apps.base import AppContext
from roost.errors import AppError
from roost.paths import short_socket_dir
from roost.transport.private import ensure_private_dir

PORT = 5432
DATABASE = USER = "labelstudio"
APP_NAME = "postgres"
BINDIRS_ENV = "ROOST_POSTGRES_BINDIRS"
"""A glob of PostgreSQL bin directories on the machine (default Debian's); tests point it elsewhere."""
DEFAULT_BINDIRS = "/usr/lib/postgresql/*/bin"


@dataclass(frozen=True)
class PostgresLayout:
    """Where one machine's cluster, socket and programs are."""

    bindir: str
    cluster: str
    socket: str

    def script_config(self) -> dict[str, object]:
        """What the backup/restore scripts need to reach the database."""
        return {"bindir": self.bindir, "socket": self.socket, "port": PORT, "db": DATABASE, "user": USER}

    def client_env(self) -> dict[str, str]:
        """Label Studio's settings for this database (Django's PostgreSQL backend over the socket)."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": DATABASE,
            "POSTGRE_USER": USER,
            "POSTGRE_PASSWORD": "",
            "POSTGRE_HOST": self.socket,
            "POSTGRE_PORT": str(PORT),
        }


def socket_dir(home: str) -> str:
    """The socket's directory: under roost's home, or /tmp when that path is too long for a socket."""
    return short_socket_dir(home, "postgres")


def layout(ctx: AppContext, data_dir: str) -> PostgresLayout:
    """The machine's layout; the bin directory is known once :func:`ensure_installed` ran."""
    bindir = ctx.record.facts.app.postgres_bindir
    if not bindir:
        raise AppError(
            f"PostgreSQL's programs on '{ctx.record.name}' are not known yet",
            hint=f"run `roost up` for '{ctx.record.name}' again",
        )
    return PostgresLayout(bindir=bindir, cluster=f"{data_dir}/postgres", socket=socket_dir(ctx.home))


FIND = """
for dir in $(ls -d {pattern} 2>/dev/null | sort -V); do [ -x "$dir/initdb" ] && found="$dir"; done
[ -n "$found" ] && echo "$found"
"""


def ensure_installed(ctx: AppContext) -> str:
    """PostgreSQL's bin directory on the machine, installing the package with apt when missing.

    Refused first where roost runs as root: PostgreSQL will not run as root."""
    if ctx.record.facts.runs_as_root:
        raise AppError(
            f"database: postgres on '{ctx.record.name}': PostgreSQL refuses to run as root, and roost "
            "runs as root there; nothing was installed",
            hint="connect as another user (hosts: user:), or use database: sqlite",
        )
    pattern = os.environ.get(BINDIRS_ENV, DEFAULT_BINDIRS)
    find = FIND.format(pattern=pattern)
    found = ctx.runner.run(find, timeout=30, check=False).stdout.strip()
    if not found:
        root = "" if ctx.record.facts.runs_as_root else "sudo -n "
        install = ctx.runner.run(
            f"command -v apt-get >/dev/null || {{ echo 'no apt-get on this machine'; exit 3; }}; "
            f"{root}apt-get update -q && DEBIAN_FRONTEND=noninteractive {root}apt-get install -y -q postgresql",
            timeout=900,
            check=False,
        )
        found = ctx.runner.run(find, timeout=30, check=False).stdout.strip() if install.ok else ""
        if not found:
            tail = (install.stdout + install.stderr).strip()[-600:]
            raise AppError(
                f"database: postgres needs PostgreSQL on '{ctx.record.name}', which does not have it, "
                f"and installing it with apt failed:\n  {tail}",
                hint="install the Debian/Ubuntu package 'postgresql' on the machine (or give it network "
                "access and sudo), or use database: sqlite; nothing was changed",
            )
    ctx.record.facts.app.postgres_bindir = found
    return found


# Local connections by peer authentication only: the machine's user (whoever roost logs in as)
# maps to the database's owner; any other user of the machine is refused even with a socket.
HBA = "local all all peer map=roost\n"


def init_cluster(ctx: AppContext, where: PostgresLayout) -> None:
    """Make the cluster once, in the app's data directory, and (again on every start) its
    authentication: peer, for this machine's user only. The socket's folder is private."""
    ensure_private_dir(ctx.runner, where.socket)
    quoted = shlex.quote(where.cluster)
    script = (
        f"if [ ! -s {quoted}/PG_VERSION ]; then mkdir -p {quoted} && "
        f"{shlex.quote(where.bindir)}/initdb -D {quoted} -U {USER} --auth-local=peer --auth-host=reject "
        f"-E UTF8 --no-locale >/dev/null; fi && "
        f"printf '%s' {shlex.quote(HBA)} > {quoted}/pg_hba.conf && "
        f'printf "roost %s {USER}\\n" "$(id -un)" > {quoted}/pg_ident.conf'
    )
    ctx.runner.run(script, timeout=300).check("create the PostgreSQL cluster")


def definition(where: PostgresLayout) -> AppDefinition:
    """The server in the foreground under the agent: no TCP, the socket only, commit times kept
    (restore uses them to see whether the data changed since a backup)."""
    return AppDefinition(
        name=APP_NAME,
        argv=[
            f"{where.bindir}/postgres",
            "-D",
            where.cluster,
            "-p",
            str(PORT),
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_directories={where.socket}",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "track_commit_timestamp=on",
        ],
        stop_timeout=60.0,
        stop_signal="INT",
        start_order=-1,
    )


def wait_ready(ctx: AppContext, where: PostgresLayout, timeout: float = 120) -> None:
    """Wait until the server accepts connections, then make the app's database once."""
    bindir, socket = shlex.quote(where.bindir), shlex.quote(where.socket)
    script = (
        f"for i in $(seq {int(timeout * 2)}); do {bindir}/pg_isready -q -h {socket} -p {PORT} && break; "
        f"sleep 0.5; done; {bindir}/pg_isready -h {socket} -p {PORT} && "
        f"{{ {bindir}/psql -h {socket} -p {PORT} -U {USER} -d postgres -Atc "
        f"\"select 1 from pg_database where datname='{DATABASE}'\" | grep -q 1 || "
        f"{bindir}/createdb -h {socket} -p {PORT} -U {USER} {DATABASE}; }}"
    )
    result = ctx.runner.run(script, timeout=timeout + 60, check=False)
    if not result.ok:
        tail = ctx.agent.logs(APP_NAME, lines=15).stdout
        raise AppError(
            f"PostgreSQL on '{ctx.record.name}' did not accept connections: "
            f"{(result.stdout + result.stderr).strip()[-300:]}\n  log tail:\n{tail}",
            hint=f"see `roost logs {ctx.record.name}`",
        )
