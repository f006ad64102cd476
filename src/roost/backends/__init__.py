"""Backends: where machines live. ``get_backend`` picks one by the spec's ``backend``."""

from __future__ import annotations

from roost.backends.base import Backend
from roost.errors import NotBuiltYet
from roost.machine.tools import MachineTools


def get_backend(kind: str, *, accept_new_host_key: bool = False) -> Backend:
    """The backend for ``kind``; a clear error for kinds not built yet."""
    if kind == "local":
        from roost.backends.local import LocalBackend  # start-up time: only the backend in use loads

        return LocalBackend()
    if kind == "ssh":
        from roost.backends.ssh.backend import SshBackend  # start-up time: only the backend in use loads

        return SshBackend(accept_new_host_key=accept_new_host_key)
    if kind == "aws":
        from roost.backends.aws.backend import AwsBackend  # start-up time: AWS's modules load only for aws machines

        return AwsBackend()
    raise NotBuiltYet(f"unknown backend '{kind}'", hint="choose local, ssh or aws")


__all__ = ["Backend", "MachineTools", "get_backend"]
