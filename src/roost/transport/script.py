"""Run a shell script of any size with secrets in its environment, neither in any command line.

``sh -c SCRIPT`` puts the script in argv, where one argument may hold at most 128 KiB on
Linux ("Argument list too long") and ``ps`` shows it to every user; ``env NAME=VALUE`` there
would show secrets the same way. Here the script, its environment and its folder travel as
JSON on stdin to a small launcher, which writes the script to a private temporary file
(``mkstemp``: 0600, a name nobody can guess), runs it with ``sh`` and removes it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping

from roost.transport.base import Result, Runner

LAUNCH = r"""
import json, os, subprocess, sys, tempfile
request = json.loads(sys.stdin.buffer.read())
env = dict(os.environ)
env.update(request["env"])
fd, path = tempfile.mkstemp(prefix="roost-script-", suffix=".sh")
try:
    os.write(fd, request["script"].encode())
    os.close(fd)
    code = subprocess.call(["/bin/sh", path], cwd=request["cwd"], env=env, stdin=subprocess.DEVNULL)
finally:
    os.unlink(path)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_script(
    runner: Runner,
    script: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    on_output: Callable[[str], None] | None = None,
) -> Result:
    """Run ``script`` with ``sh`` on the runner's machine, ``env`` added to its environment;
    the Result names the script (its first line), not the launcher."""
    request = json.dumps({"script": script, "env": dict(env or {}), "cwd": cwd})
    result = runner.run(
        [runner.python, "-c", LAUNCH], stdin=request.encode(), timeout=timeout, check=False, on_output=on_output
    )
    first_line = script.strip().splitlines()[0] if script.strip() else ""
    shown = dataclasses.replace(result, command_text=first_line if len(first_line) <= 200 else first_line[:200] + "...")
    return shown.check(timeout=timeout) if check else shown
