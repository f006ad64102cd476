"""Wheelhouses: the packages an app needs, downloaded on this computer for a machine's platform.

A machine that cannot reach a package index (a private subnet, an air-gapped lab) still
gets its apps: roost downloads the wheels here, for the machine's Python and CPU, caches
them (a second app or machine needs no download), pushes them with rsync, and the machine
installs offline with uv.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from uv import find_uv_bin

from roost.errors import AppError
from roost.paths import cache_dir, file_lock

MANYLINUX = (
    "manylinux_2_28",
    "manylinux_2_17",
    "manylinux2014",
    "manylinux_2_12",
    "manylinux2010",
    "manylinux_2_5",
    "manylinux1",
)


NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")
MAX_BUILT = 10


def _build_pure_wheel(requirement: str, directory: Path) -> None:
    """Build ``requirement`` from its source into ``directory``; only a pure-Python
    wheel may go to another machine, so anything else is removed and refused."""
    result = subprocess.run(
        [
            *_pip(),
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--wheel-dir",
            str(directory),
            requirement,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("-", "_").replace(".", "_")
    wheels = [w for w in directory.glob("*.whl") if w.name.lower().startswith(name + "-")]
    if result.returncode != 0 or not wheels:
        raise AppError(
            f"{requirement} has no wheel and could not be built here: {result.stderr.strip()[-300:]}",
            hint="set 'installs: index' so the machine installs it itself",
        )
    for wheel in wheels:
        if not wheel.name.endswith("-none-any.whl"):
            wheel.unlink()
            raise AppError(
                f"{requirement} has no wheel for the machine and builds only for this computer",
                hint="set 'installs: index' so the machine builds it itself",
            )


def _resolve(requirements: Sequence[str], *, python_version: str, arch: str) -> list[str]:
    """Exact pins of ``requirements`` and all their dependencies for the machine's Python/CPU.

    Versions with a wheel for the machine come first: a release whose wheels are not out yet
    (or never will be for this CPU) must not win over the last one that has them. Only when
    some requirement has no wheel at all is a source release pinned (built here if pure Python).
    """
    wheels_only = _compile(requirements, python_version=python_version, arch=arch, extra=["--only-binary", ":all:"])
    if wheels_only.returncode == 0:
        return _pins(wheels_only.stdout)
    result = _compile(requirements, python_version=python_version, arch=arch, extra=[])
    if result.returncode != 0:
        raise AppError(
            f"could not resolve {' '.join(requirements)} for Python {python_version} on {arch}: "
            f"{result.stderr.strip()[-400:]}",
            hint="check the package names and versions",
        )
    return _pins(result.stdout)


def _compile(
    requirements: Sequence[str], *, python_version: str, arch: str, extra: list[str]
) -> subprocess.CompletedProcess[str]:
    links = [arg for link in _pip_find_links() for arg in ("--find-links", link)]
    return subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "compile",
            "-",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            python_version,
            "--python-platform",
            f"{arch}-manylinux_2_28",
            *links,
            *extra,
        ],
        input="\n".join(requirements),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _pins(compiled: str) -> list[str]:
    return [line.strip() for line in compiled.splitlines() if line.strip() and not line.startswith("#")]


def _pip_find_links() -> list[str]:
    """The wheel folders this computer's pip is configured with (e.g. a local CPU build of torch),
    so the resolution sees the same wheels the download will."""
    found = os.environ.get("PIP_FIND_LINKS", "").split()
    configured = subprocess.run(
        [*_pip(), "config", "get", "global.find-links"], capture_output=True, text=True, timeout=60
    )
    if configured.returncode == 0:
        found += configured.stdout.split()
    return [link for index, link in enumerate(found) if link not in found[:index] and os.path.exists(link)]


def _pip() -> list[str]:
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    return [find_uv_bin(), "tool", "run", "pip"]


def _download(argv: list[str], partial: Path, what: str) -> None:
    """Run pip's download into ``partial``; a dependency published only as source is built
    into a wheel here when it is pure Python, then the download runs again."""
    built: set[str] = set()
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if result.returncode == 0:
            return
        missing = NO_WHEEL.findall(result.stderr)
        if not missing or missing[0] in built or len(built) >= MAX_BUILT:
            shutil.rmtree(partial, ignore_errors=True)
            tail = "\n".join("    " + line for line in (result.stderr or result.stdout).splitlines()[-8:])
            raise AppError(
                f"could not download wheels of {what}:\n{tail}",
                hint="a package without a wheel needs an index on the machine: set 'installs: index'",
            )
        built.add(missing[0])
        _build_pure_wheel(missing[0], partial)


def build(requirements: Sequence[str], *, python_version: str, arch: str) -> Path:
    """A directory of wheels that installs ``requirements`` on CPython ``python_version``/``arch``."""
    key = hashlib.sha256(repr((sorted(requirements), python_version, arch, 2)).encode()).hexdigest()[:16]
    target = cache_dir() / "wheelhouse" / key
    if (target / ".complete").exists():
        return target
    with file_lock(target):  # machines brought up side by side build it once
        if (target / ".complete").exists():
            return target
        return _build(requirements, target, python_version=python_version, arch=arch)


def _build(requirements: Sequence[str], target: Path, *, python_version: str, arch: str) -> Path:
    key = target.name
    partial = target.with_name(key + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", f"{tag}_{arch}")]
    # pip evaluates dependency markers for this interpreter, not the machine's: resolve with
    # uv for the machine's exact Python and platform, then download exactly those pins
    pins = _resolve(requirements, python_version=python_version, arch=arch)
    argv = [*_pip(), "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:", "--no-deps",
            "--implementation", "cp", "--python-version", python_version, *platforms,
            "--find-links", str(partial), "--dest", str(partial), *pins]  # fmt: skip
    _download(argv, partial, f"{' '.join(requirements)} for Python {python_version} on {arch}")
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # complete or absent: a half download is never used
    return target
