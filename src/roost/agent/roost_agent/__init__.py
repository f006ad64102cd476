"""roost agent: the program roost runs ON a machine. Standard library only.

It is shipped to the machine as one zip archive (``roost_agent.pyz``: this package plus a
``__main__`` that unpacks the package beside the archive on its first run, so later runs
import cached bytecode) and run with ``python3 -I -S``. It supervises the
apps registered with it (restart on crash with exponential backoff), rotates their logs,
answers ``status`` as JSON and records the last time anyone used an app (for autostop).

    python3 roost_agent.pyz --home DIR start [--config]   start the supervisor (idempotent;
                                                      --config: merge the JSON on stdin first)
    python3 roost_agent.pyz --home DIR stop           stop it and every app it runs
    python3 roost_agent.pyz --home DIR status         JSON: agent and apps
    python3 roost_agent.pyz --home DIR put-app [--wait S]   register an app (JSON on stdin);
                                                      --wait: then until it is healthy
    python3 roost_agent.pyz --home DIR remove-app N   unregister an app (stops it)
    python3 roost_agent.pyz --home DIR wait N [--timeout S]   until app N is healthy
    python3 roost_agent.pyz --home DIR logs N [-n K] [-f]
    python3 roost_agent.pyz --home DIR freeport       a free TCP port on 127.0.0.1

Everything lives under DIR: ``agent/`` (pid, lock, status.json, app definitions, app pid
files) and ``logs/`` (one log per app). Processes are only ever signalled by a PID that
this agent recorded together with the process start time, so a reused PID is never hit.
"""

VERSION = "1"
