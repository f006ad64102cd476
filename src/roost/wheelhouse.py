"""Wheelhouses: the packages an app needs, downloaded on this computer for a machine's platform.

A machine that cannot reach a package index (a private subnet, an air-gapped lab) still
gets its apps: roost downloads the wheels here, for the machine's Python and CPU, caches
them (a second app or machine needs no download), pushes them with rsync, and the machine
installs offline with uv.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from roost.errors import AppError
from roost.paths import cache_dir

MANYLINUX = ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux_2_12", "manylinux2010",
             "manylinux_2_5", "manylinux1")


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    from uv import find_uv_bin

    return [find_uv_bin(), "tool", "run", "pip"]


def build(requirements: Sequence[str], *, python_version: str, arch: str) -> Path:
    """A directory of wheels that installs ``requirements`` on CPython ``python_version``/``arch``."""
    key = hashlib.sha256(repr((sorted(requirements), python_version, arch)).encode()).hexdigest()[:16]
    target = cache_dir() / "wheelhouse" / key
    if (target / ".complete").exists():
        return target
    partial = target.with_name(key + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", f"{tag}_{arch}")]
    argv = [*_pip(), "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
            "--implementation", "cp", "--python-version", python_version, *platforms,
            "--dest", str(partial), *requirements]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join("    " + line for line in (result.stderr or result.stdout).splitlines()[-8:])
        raise AppError(f"could not download wheels of {' '.join(requirements)} for Python {python_version} "
                       f"on {arch}:\n{tail}",
                       hint="a package without a wheel needs an index on the machine: set 'installs: index'")
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # complete or absent: a half download is never used
    return target
