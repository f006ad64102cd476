"""Wheelhouses for machines without a package index: what gets pinned and downloaded, against a
package index of our own on disk (no network)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from roost.backends.sshplane import wheelhouse

NAME = "roostprobe"


def pure_wheel(folder: Path, version: str) -> None:
    """A pure-Python wheel of NAME ``version``: installable on any machine."""
    dist = f"{NAME}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{NAME}-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{NAME}/__init__.py", f"VERSION = {version!r}\n")
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n")
        tags = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        wheel.writestr(f"{dist}/WHEEL", tags)
        wheel.writestr(f"{dist}/RECORD", "")


def source_only(folder: Path, version: str) -> None:
    """NAME ``version`` published as source only, as a release is before its wheels are out."""
    with tarfile.open(folder / f"{NAME}-{version}.tar.gz", "w:gz") as sdist:
        files = {
            "PKG-INFO": f"Metadata-Version: 2.2\nName: {NAME}\nVersion: {version}\n",
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
        }
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{NAME}-{version}/{path}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))


@pytest.fixture
def own_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of distributions that uv and pip look in, and no other index."""
    links, empty = tmp_path / "links", tmp_path / "empty-index"
    links.mkdir()
    empty.mkdir()
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("UV_DEFAULT_INDEX", empty.as_uri())
    monkeypatch.setenv("ROOST_CACHE_DIR", str(tmp_path / "cache"))
    return links


def test_a_release_without_wheels_yet_does_not_win_over_the_last_with_them(own_index: Path) -> None:
    pure_wheel(own_index, "1.0")
    source_only(own_index, "2.0")
    assert wheelhouse._resolve([NAME], python_version="3.11", arch="x86_64") == [f"{NAME}==1.0"]
    built = wheelhouse.build([NAME], python_version="3.11", arch="x86_64")
    assert sorted(path.name for path in built.glob("*.whl")) == [f"{NAME}-1.0-py3-none-any.whl"]


def test_a_package_with_no_wheel_at_all_is_still_pinned_from_its_source(own_index: Path) -> None:
    source_only(own_index, "2.0")
    assert wheelhouse._resolve([NAME], python_version="3.11", arch="x86_64") == [f"{NAME}==2.0"]


def test_an_unknown_package_names_itself_in_the_error(own_index: Path) -> None:
    with pytest.raises(wheelhouse.AppError, match=r"could not resolve no-such-package-anywhere for Python 3\.11"):
        wheelhouse._resolve(["no-such-package-anywhere"], python_version="3.11", arch="x86_64")
