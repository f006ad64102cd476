"""roost's own wheel and its dependencies, for machines that run roost itself (``app: roost-server``).

The wheel is built on this computer from roost's source tree (``uv build``), once per version
of the source, or taken from ``ROOST_WHEEL``. Its dependencies install on the machine the way
every app's do (from the index, or as a wheelhouse); the wheel itself goes there as a file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
from pathlib import Path

from uv import find_uv_bin

from roost.errors import AppError
from roost.paths import cache_dir, file_lock

SOURCE = Path(__file__).resolve().parents[3]
"""The project root when roost runs from its source tree (``pyproject.toml`` beside ``src/``)."""
EXTRAS = ("boto3>=1.34",)
"""What the server needs beyond roost's core: the AWS backend and S3 backups."""


def dependencies() -> list[str]:
    """roost's runtime requirements (no extras, no markers for other platforms), plus EXTRAS."""
    found = []
    for requirement in importlib.metadata.requires("roost") or []:
        if "extra ==" in requirement:
            continue
        found.append(requirement.split(";", 1)[0].strip())
    return [*found, *EXTRAS]


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((SOURCE / "src" / "roost").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(SOURCE)).encode())
            digest.update(path.read_bytes())
    digest.update((SOURCE / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def own_wheel() -> Path:
    """roost's wheel: ``ROOST_WHEEL``, else built from the source tree (cached by its contents)."""
    explicit = os.environ.get("ROOST_WHEEL")
    if explicit:
        if not re.fullmatch(r"roost-[^/]*-py3-none-any\.whl", Path(explicit).name) or not Path(explicit).is_file():
            raise AppError(
                f"ROOST_WHEEL={explicit} is not a roost wheel file", hint="build one with `uv build --wheel`"
            )
        return Path(explicit)
    if not (SOURCE / "pyproject.toml").is_file() or not (SOURCE / "src" / "roost").is_dir():
        raise AppError(
            "app: roost-server needs roost's wheel, and this roost was not installed from its source tree",
            hint="set ROOST_WHEEL to a roost wheel (`uv build --wheel` in roost's source)",
        )
    target = cache_dir() / "roost-wheel" / _source_digest()
    wheels = sorted(target.glob("roost-*-py3-none-any.whl"))
    if wheels:
        return wheels[-1]
    with file_lock(target):  # two ups of roost-server at once build it once
        if not any(target.glob("roost-*-py3-none-any.whl")):
            _build_into(target)
    return next(target.glob("roost-*-py3-none-any.whl"))


def _build_into(target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    built = subprocess.run(
        [find_uv_bin(), "build", "--wheel", "--quiet", "--out-dir", str(partial), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise AppError(f"could not build roost's wheel: {built.stderr.strip()[-600:]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # whole or absent
