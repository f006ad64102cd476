"""Secrets roost generates (such as an app password), kept on the client in 0600 files.

Values never enter the state database or a log; they are shown only on request.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from roost.paths import roost_home, write_private


class Vault:
    """Per-machine secret files under ``$ROOST_HOME/secrets/NAME/`` (dir 0700, files 0600)."""

    def __init__(self, machine: str, home: Path | None = None) -> None:
        self.dir = (home or roost_home()) / "secrets" / machine

    def path(self, key: str) -> Path:
        """Where the secret ``key`` is kept."""
        return self.dir / key

    def get(self, key: str) -> str | None:
        """The secret's value, or None when it was never made."""
        try:
            return self.path(key).read_text().strip()
        except FileNotFoundError:
            return None

    def get_or_create(self, key: str, nbytes: int = 18) -> str:
        """The secret's value, generating a strong random one the first time."""
        existing = self.get(key)
        if existing:
            return existing
        value = secrets.token_urlsafe(nbytes)
        self.put(key, value)
        return value

    def put(self, key: str, value: str) -> None:
        """Keep ``value`` as the secret ``key`` (written whole, 0600)."""
        self.dir.parent.mkdir(mode=0o700, exist_ok=True)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        write_private(self.path(key), (value + "\n").encode())

    def forget(self, key: str) -> None:
        """Delete the secret ``key`` (nothing when it was never kept)."""
        self.path(key).unlink(missing_ok=True)

    def delete_all(self) -> None:
        """Forget every secret of this machine."""
        shutil.rmtree(self.dir, ignore_errors=True)
