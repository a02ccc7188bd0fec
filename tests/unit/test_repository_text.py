"""The repository stands on its own: no tracked file points at design notes kept outside it or at
an issue tracker's numbers; the code and the README say what they mean in their own words."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
# Spelled in pieces so this file does not match itself.
OUTSIDE = re.compile(
    r"shared" r"/reference|\b(?:DESIGN|STYLE)" r"\.md\b|\bissues? #?\d+\b|\bDESIGN/issue", re.IGNORECASE
)


def test_no_file_points_outside_the_repository():
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    found = []
    for name in filter(None, files):
        path = REPO / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
