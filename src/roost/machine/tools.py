"""The installers a machine offers (uv and its cache, maybe a wheelhouse): what apps install with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MachineTools:
    """The installers a machine uses: the uv binary and its cache, both paths on the machine.

    ``wheelhouse``, when set, makes sure wheels for the given requirements are on the
    machine and returns their directory there: installs then run offline from it.
    """

    uv: str
    uv_cache: str
    wheelhouse: Callable[[Sequence[str]], str] | None = None
    note: str = ""
    """How packages reach the machine, in words for the user."""

    @property
    def shared_cache(self) -> str:
        """The folder on the machine's host that holds uv's cache, shared by its machines."""
        return self.uv_cache.rsplit("/", 1)[0]
