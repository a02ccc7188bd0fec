"""scripts/wheelhouse.py fills a controller host's wheelhouse: pyproject.toml's list, and every
requirement the wheels have on the host's Python even where this machine's Python has none
(redis needs async-timeout before 3.11.3 only)."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("wheelhouse", REPO / "scripts" / "wheelhouse.py")
wheelhouse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wheelhouse)


def _wheel(directory: Path, name: str, version: str, *requires: str) -> None:
    metadata = "".join(f"Requires-Dist: {line}\n" for line in requires)
    dist = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(directory / f"{dist}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\n{metadata}")


def test_the_list_is_pyprojects_with_the_build_requirements_and_the_guide_builder():
    listed = wheelhouse.requirements()
    assert listed[0].startswith("setuptools")
    assert any(r.startswith("gunicorn") for r in listed) and any(r.startswith("mitogen") for r in listed)
    assert any(r.startswith("mkdocs") for r in listed)
    assert not any(r.startswith("pytest") for r in listed)


def test_a_requirement_only_the_hosts_python_has_is_missing_until_its_wheel_is_there(tmp_path):
    _wheel(
        tmp_path,
        "redis",
        "8.1.0",
        "async-timeout>=4.0.3; python_full_version < '3.11.3'",
        "hiredis>=3.2.0; extra == 'hiredis'",
    )
    _wheel(tmp_path, "Flask", "3.1.0", "Werkzeug>=3.1", "click>=8.1.3")
    _wheel(tmp_path, "werkzeug", "3.1.3")
    _wheel(tmp_path, "click", "8.1.8")

    assert wheelhouse.missing(tmp_path, wheelhouse.host_environment("3.11.2")) == ["async-timeout>=4.0.3"]
    assert wheelhouse.missing(tmp_path, wheelhouse.host_environment("3.11.7")) == []

    _wheel(tmp_path, "async-timeout", "5.0.1")
    assert wheelhouse.missing(tmp_path, wheelhouse.host_environment("3.11.2")) == []
