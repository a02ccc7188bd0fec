"""One clock: ``utcnow`` is defined in mailfleet.clock and imported from there only, so a reader
never finds a second spelling of "now" (or a module passing it on)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("mailfleet", "webapp", "jobs", "testbed", "collections", "tests", "bench")


def clock_spellings(source: str) -> list[str]:
    """Definitions of ``utcnow`` and imports of it from anywhere but mailfleet.clock."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "utcnow":
            found.append(f"line {node.lineno}: defines utcnow")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module != "mailfleet.clock"
            and any(alias.name == "utcnow" for alias in node.names)
        ):
            found.append(f"line {node.lineno}: imports utcnow from {node.module}")
    return found


def test_utcnow_is_defined_once_and_imported_from_the_clock_only():
    found = [
        f"{path.relative_to(REPO)} {spelling}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if path != REPO / "mailfleet" / "clock.py"
        for spelling in clock_spellings(path.read_text())
    ]
    assert found == []


def test_the_check_sees_an_alias_and_a_second_definition():
    source = "from webapp.models.types import utcnow\ndef utcnow():\n    pass\n"
    assert clock_spellings(source) == [
        "line 1: imports utcnow from webapp.models.types",
        "line 2: defines utcnow",
    ]
