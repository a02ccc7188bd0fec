"""Every dependency of the control plane as wheels in one directory, for hosts without a package
index (the controller role's `controller_wheelhouse`):

    python scripts/wheelhouse.py build/wheels --python-version 3.11.2

The list is pyproject.toml's: the build requirements, the dependencies and the `docs` extra (the
web host builds the user guide). pip evaluates the dependencies' markers for the Python running it,
not the host's (Debian 12's 3.11.2 needs async-timeout for redis, a later 3.11 does not), so the
wheels' own requirements are read again with the host's version until none is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parent.parent
EXTRAS = ("docs",)


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """What a host installing the checkout needs, as pyproject.toml lists it."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    return [
        *data["build-system"]["requires"],
        *project["dependencies"],
        *(requirement for extra in EXTRAS for requirement in project["optional-dependencies"][extra]),
    ]


def host_environment(python_version: str) -> dict[str, str]:
    """Marker variables of a host like this machine but running `python_version`."""
    major_minor = ".".join(python_version.split(".")[:2])
    return {**default_environment(), "python_full_version": python_version, "python_version": major_minor}


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return HeaderParser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []


def missing(directory: Path, environment: dict[str, str]) -> list[str]:
    """Requirements of the wheels in `directory` that hold on the host and that no wheel there meets."""
    wheels = list(directory.glob("*.whl"))
    have = {canonicalize_name(parse_wheel_filename(wheel.name)[0]) for wheel in wheels}
    wanted = set()
    for wheel in wheels:
        for line in _requires(wheel):
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            if canonicalize_name(requirement.name) not in have:
                wanted.add(f"{requirement.name}{requirement.specifier}")
    return sorted(wanted)


def download(directory: Path, python_version: str, wanted: list[str]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--dest",
            str(directory),
            *wanted,
        ],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--python-version", required=True, help="the host's Python, e.g. 3.11.2")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    environment = host_environment(args.python_version)
    wanted = requirements()
    while wanted:
        download(args.directory, args.python_version, wanted)
        wanted = missing(args.directory, environment)
    return 0


if __name__ == "__main__":
    sys.exit(main())
