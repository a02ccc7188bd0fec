"""The facts run's disk collector (playbooks/files/disk_facts.py), run as the play runs it (the
host's python3, the paths as arguments) on this machine's real filesystems: its figures are df's,
a filesystem is counted once however many of the paths live on it, a missing path is left out, and
the document's disk section becomes the sample's disk used and total."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailfleet.usage import MB, from_facts

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[3] / "playbooks" / "files" / "disk_facts.py"
#: Other writers share this machine's disks: free space may move between two readings.
SLACK = 256 * MB


def _df(path: str) -> tuple[int, int]:
    """(size, available) in bytes, as df reports them."""
    out = subprocess.run(
        ["df", "--block-size=1", "--output=size,avail", path], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[-2]), int(out[-1])


def _run(*paths: str) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *paths], capture_output=True, text=True, check=True)
    found = json.loads(proc.stdout)
    assert isinstance(found, list)
    return found


def test_each_filesystem_once_with_dfs_figures_and_missing_paths_left_out(tmp_path):
    inside = tmp_path / "mailu"
    inside.mkdir()
    found = _run("/", "/", str(tmp_path / "absent"), str(tmp_path), str(inside))
    assert found[0]["mount"] == "/"
    mounts = [entry["mount"] for entry in found]
    assert len(mounts) == len(set(mounts)) and str(tmp_path / "absent") not in mounts
    assert str(inside) not in mounts  # tmp_path's filesystem (or the root's) already counted
    same_fs = tmp_path.stat().st_dev == Path("/").stat().st_dev
    assert len(found) == (1 if same_fs else 2)
    for entry in found:
        size, avail = _df(str(entry["mount"]))
        assert entry["size_bytes"] == size > 0
        assert abs(int(entry["free_bytes"]) - avail) <= SLACK
        assert 0 <= int(entry["free_bytes"]) <= size


def test_no_argument_measures_the_root_and_the_sample_reads_it():
    [root] = _run()
    assert root["mount"] == "/"
    sample = from_facts({"schema": 1, "disk": [root]})
    assert sample.disk_total_mb == round(int(root["size_bytes"]) / MB) > 0
    assert sample.disk_used_mb == round((int(root["size_bytes"]) - int(root["free_bytes"])) / MB)
