"""``roost server | watch | dashboard | aws-policy``: each a few lines over :mod:`roost.server` and the library."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import typer

from roost.cli.commands import CommandList
from roost.cli.info_cmds import _has_display
from roost.cli.render import console, note
from roost.errors import RoostError

if TYPE_CHECKING:
    from roost.server.token import ServerInfo

commands = CommandList()
START_SECONDS = 60.0


@commands.command()
def server(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this computer only)"),
    port: int = typer.Option(8765, "--port"),
    probe_every: float = typer.Option(10.0, "--probe-every", help="seconds between background health probes"),
    hide_token: bool = typer.Option(False, "--hide-token", hidden=True, help="for output that goes to a log file"),
) -> None:
    """Serve the HTTP API (/api/v1) and the web dashboard; prints the login URL (with its token)."""
    from roost.server.run import serve  # start-up time: only this command needs the web stack

    serve(
        host=host,
        port=port,
        probe_every=probe_every,
        say=lambda line: print(line, flush=True),
        show_token=not hide_token,
    )


@commands.command()
def watch(probe_every: float = typer.Option(10.0, "--probe-every", help="seconds between machine probes")) -> None:
    """Keep watch in the foreground, as `roost server` does: ship scheduled backups to their
    store, note what machines do, send notifications (for those who run no server). Ctrl-C ends it."""
    import logging
    import signal
    import threading

    from roost.watch import Watchers  # start-up time: only this command needs the watchers

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    note("watching: backups shipped, machines probed, events notified (Ctrl-C ends)")
    try:
        Watchers(probe_every=probe_every).run_until(stop)
    except KeyboardInterrupt:
        pass


@commands.command()
def dashboard(
    port: int = typer.Option(8765, "--port", help="for a server this starts"),
    no_browser: bool = typer.Option(False, "--no-browser"),
) -> None:
    """Open the dashboard: of the server that runs here, or of one this starts in the background."""
    from roost.server.run import login_url
    from roost.server.token import login_token, running, server_dir

    found = running()
    if found is None:
        log = server_dir() / "server.log"
        with open(log, "ab") as output:
            subprocess.Popen(
                [sys.executable, "-m", "roost", "server", "--port", str(port), "--hide-token"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # it outlives this command
            )
        found = _wait_for_server()
        note(f"started a server in the background (pid {found.pid}); its log: {log}")
    url = login_url(found.url, login_token())
    console.print(url)
    if not no_browser and _has_display():
        import webbrowser  # start-up time

        webbrowser.open(url)


def _wait_for_server() -> ServerInfo:
    """The server just started, once it answers (RoostError after START_SECONDS)."""
    import urllib.request  # start-up time: only this command asks over HTTP

    from roost.server.token import running

    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        found = running()
        if found is not None:
            try:
                with urllib.request.urlopen(f"{found.url}/healthz", timeout=2):
                    return found
            except OSError:
                pass
        time.sleep(0.2)
    raise RoostError(f"the server did not answer within {START_SECONDS:.0f}s", hint="see ROOST_HOME/server/server.log")


@commands.command("aws-policy")
def aws_policy(
    bucket: str = typer.Option(None, "--bucket", help="also S3 backups in this bucket"),
    prefix: str = typer.Option("", "--prefix", help="... under this prefix"),
) -> None:
    """Print the least-privilege IAM policy roost needs (JSON, for `aws iam create-policy`)."""
    from roost.backends.aws.policy import iam_policy

    print(json.dumps(iam_policy(bucket, prefix), indent=2))


def register(app: typer.Typer) -> None:
    """Add the server commands to ``app``."""
    commands.register(app)
