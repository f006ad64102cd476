"""roost: host ML tools and run training jobs on machines, securely and cheaply.

The library is the product; the CLI is a thin layer over it. Every command is a function
here, returning one typed result::

    import roost
    result = roost.up("jupyter")          # or a spec file path, or a roost.Spec
    print(result.url, result.login)
    roost.exec("jupyter", "nvidia-smi")   # a Result: exit_code, stdout, stderr
    roost.stop("jupyter"); roost.start("jupyter"); roost.down("jupyter")

    job = roost.run("train.yaml", down=True)        # a JobResult
    roost.serve("dashboard.yaml")                   # replicas behind the balancer
    info = roost.backup("labels"); roost.restore("labels", info.id)

Importing roost imports no cloud SDK and none of the verbs' modules until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, str]] = {
    # machines: bring up, stop, start, take down
    "up": ("roost.lifecycle.machines", "up"),
    "stop": ("roost.lifecycle.machines", "stop"),
    "start": ("roost.lifecycle.machines", "start"),
    "down": ("roost.lifecycle.machines", "down"),
    "UpResult": ("roost.lifecycle.machines", "UpResult"),
    "DownResult": ("roost.lifecycle.machines", "DownResult"),
    "autostop": ("roost.lifecycle.autostop", "set_autostop"),
    "AutostopResult": ("roost.lifecycle.autostop", "AutostopResult"),
    # what is there
    "status": ("roost.lifecycle.info", "status"),
    "open_info": ("roost.lifecycle.info", "open_info"),
    "password": ("roost.lifecycle.info", "password"),
    "logs": ("roost.lifecycle.info", "logs"),
    "MachineStatus": ("roost.lifecycle.info", "MachineStatus"),
    "OpenInfo": ("roost.lifecycle.info", "OpenInfo"),
    # commands and files on a machine
    "exec": ("roost.lifecycle.files", "exec_command"),
    "sync": ("roost.lifecycle.files", "sync"),
    "download": ("roost.lifecycle.files", "download"),
    "Result": ("roost.transport.base", "Result"),
    # jobs
    "run": ("roost.job.run", "run"),
    "submit": ("roost.job.run", "submit"),
    "job_outputs": ("roost.job.run", "outputs"),
    "JobResult": ("roost.job.common", "JobResult"),
    "jobs": ("roost.job.manage", "jobs"),
    "job_logs": ("roost.job.manage", "job_logs"),
    "cancel": ("roost.job.manage", "cancel"),
    "JobStatus": ("roost.agent.client", "JobStatus"),
    "detach": ("roost.job.managed", "detach"),
    "managed_jobs": ("roost.job.managed", "managed_jobs"),
    "ManagedJob": ("roost.job.managed", "ManagedJob"),
    # services
    "serve": ("roost.lifecycle.services", "serve"),
    "serve_update": ("roost.lifecycle.services", "serve_update"),
    "serve_status": ("roost.lifecycle.services", "serve_status"),
    "ServiceStatus": ("roost.service.status", "ServiceStatus"),
    # backups
    "backup": ("roost.lifecycle.backups", "backup"),
    "list_backups": ("roost.lifecycle.backups", "list_backups"),
    "restore": ("roost.lifecycle.backups", "restore"),
    "BackupInfo": ("roost.backups.store", "BackupInfo"),
    # sharing behind the gateway
    "share": ("roost.lifecycle.sharing", "share"),
    "add_user": ("roost.lifecycle.sharing", "add_user"),
    "remove_user": ("roost.lifecycle.sharing", "remove_user"),
    "users": ("roost.lifecycle.sharing", "users"),
    "trust": ("roost.lifecycle.sharing", "trust"),
    # money and clean-up
    "cost": ("roost.lifecycle.housekeeping", "cost"),
    "gc": ("roost.lifecycle.housekeeping", "gc"),
    "refresh_offers": ("roost.lifecycle.housekeeping", "refresh_offers"),
    "MachineCost": ("roost.lifecycle.housekeeping", "MachineCost"),
    "GcResult": ("roost.lifecycle.housekeeping", "GcResult"),
    "offers": ("roost.catalog.offers", "offers"),
    "Offer": ("roost.catalog.offers", "Offer"),
    # specs and errors
    "Spec": ("roost.spec.model", "Spec"),
    "load_spec": ("roost.spec.loader", "load_spec"),
    "RoostError": ("roost.errors", "RoostError"),
}

if TYPE_CHECKING:
    from roost.agent.client import JobStatus
    from roost.backups.store import BackupInfo
    from roost.catalog.offers import Offer, offers
    from roost.errors import RoostError
    from roost.job.common import JobResult
    from roost.job.manage import cancel, job_logs, jobs
    from roost.job.managed import ManagedJob, detach, managed_jobs
    from roost.job.run import outputs as job_outputs
    from roost.job.run import run, submit
    from roost.lifecycle.autostop import AutostopResult
    from roost.lifecycle.autostop import set_autostop as autostop
    from roost.lifecycle.backups import backup, list_backups, restore
    from roost.lifecycle.files import download, sync
    from roost.lifecycle.files import exec_command as exec
    from roost.lifecycle.housekeeping import GcResult, MachineCost, cost, gc, refresh_offers
    from roost.lifecycle.info import MachineStatus, OpenInfo, logs, open_info, password, status
    from roost.lifecycle.machines import DownResult, UpResult, down, start, stop, up
    from roost.lifecycle.services import serve, serve_status, serve_update
    from roost.lifecycle.sharing import add_user, remove_user, share, trust, users
    from roost.service.status import ServiceStatus
    from roost.spec.loader import load_spec
    from roost.spec.model import Spec
    from roost.transport.base import Result


def __getattr__(name: str) -> Any:
    found = _EXPORTS.get(name)
    if found is None:
        raise AttributeError(f"module 'roost' has no attribute {name!r}")
    module, attribute = found
    # imported on first use: `roost --help` and `import roost` stay fast
    return getattr(importlib.import_module(module), attribute)


__all__ = [
    "AutostopResult",
    "BackupInfo",
    "DownResult",
    "GcResult",
    "JobResult",
    "JobStatus",
    "MachineCost",
    "MachineStatus",
    "ManagedJob",
    "Offer",
    "OpenInfo",
    "Result",
    "RoostError",
    "ServiceStatus",
    "Spec",
    "UpResult",
    "add_user",
    "autostop",
    "backup",
    "cancel",
    "cost",
    "detach",
    "down",
    "download",
    "exec",
    "gc",
    "job_logs",
    "job_outputs",
    "jobs",
    "list_backups",
    "load_spec",
    "logs",
    "managed_jobs",
    "offers",
    "open_info",
    "password",
    "refresh_offers",
    "remove_user",
    "restore",
    "run",
    "serve",
    "serve_status",
    "serve_update",
    "share",
    "start",
    "status",
    "stop",
    "submit",
    "sync",
    "trust",
    "up",
    "users",
]
