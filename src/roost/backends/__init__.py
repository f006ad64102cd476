"""Backends: where machines live. ``get_backend`` picks one by the spec's ``backend``."""

from __future__ import annotations

from roost.backends.base import Backend, MachineTools
from roost.errors import NotBuiltYet


def get_backend(kind: str, *, accept_new_host_key: bool = False) -> Backend:
    """The backend for ``kind``; a clear error for kinds not built yet."""
    if kind == "local":
        from roost.backends.local import LocalBackend

        return LocalBackend()
    if kind == "ssh":
        from roost.backends.ssh.backend import SshBackend

        return SshBackend(accept_new_host_key=accept_new_host_key)
    if kind == "aws":
        from roost.backends.aws import AwsBackend

        return AwsBackend()
    raise NotBuiltYet(f"unknown backend '{kind}'", hint="choose local, ssh or aws")


__all__ = ["Backend", "MachineTools", "get_backend"]
