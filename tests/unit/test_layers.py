"""The layers import one way: mailfleet/ knows nothing above it, the web never imports worker code
(it enqueues jobs by dotted name), no product code imports the testbed, and the Ansible collection
uses mailfleet only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

# package -> top-level packages of this repository it must never import (anywhere in a module,
# also inside functions, where a lazy import would hide a cycle).
FORBIDDEN = {
    "mailfleet": {"webapp", "jobs", "testbed"},
    "webapp": {"jobs", "testbed"},
    "jobs": {"testbed"},
    "collections": {"webapp", "jobs", "testbed"},  # the Ansible plugins stand on mailfleet alone
}


def imported_packages(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        bad = imported_packages(path.read_text()) & FORBIDDEN[package]
        found.extend(f"{path.relative_to(REPO)} imports {name}" for name in sorted(bad))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_layers_below_it(package):
    assert violations(package) == []


def test_the_check_sees_lazy_and_dotted_imports():
    source = "def f():\n    import jobs.bridge\n    from webapp.models import Run\n"
    assert imported_packages(source) == {"jobs", "webapp"}
