"""The backup role's snapshot picker (pick_snapshot.py on the host): restic's snapshot list in, the
snapshot a restore uses out. Run as the host runs it, with the template's one Jinja line left out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "roles/backup/templates/usr/local/lib/mailfleet-backup/pick_snapshot.py.j2"
SNAPSHOTS = [
    {"id": "a" * 64, "short_id": "aaaaaaaa", "time": "2026-11-20T10:00:00.723456789Z", "hostname": "m1"},
    {"id": "b" * 64, "short_id": "bbbbbbbb", "time": "2026-11-20T11:30:05.000000001+00:00", "hostname": "m1"},
]


def pick(tmp_path: Path, before: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "pick_snapshot.py"
    script.write_text("".join(line for line in TEMPLATE.read_text().splitlines(True) if "{{" not in line))
    return subprocess.run(
        [sys.executable, str(script), before], input=json.dumps(SNAPSHOTS), capture_output=True, text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("before", "short_id"),
    [
        ("", "bbbbbbbb"),  # the latest
        ("2026-11-20 10:00:00", "aaaaaaaa"),  # the time a page shows beside it (whole seconds)
        ("2026-11-20 11:30:04", "aaaaaaaa"),
        ("2026-11-20 11:30:05", "bbbbbbbb"),
        # As a control plane's run passes it: Ansible reads the YAML extra var as a timestamp.
        ("2026-11-20T11:30:04", "aaaaaaaa"),
        ("2026-11-20T11:30:05+00:00", "bbbbbbbb"),
    ],
)
def test_the_latest_snapshot_at_or_before_the_second_given(tmp_path, before, short_id):
    done = pick(tmp_path, before)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["short_id"] == short_id


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("2026-11-20 09:59:59", "no snapshot at or before 2026-11-20 09:59:59 UTC (2 snapshots"),
        ("2026-11-20T10:00", "restore_before must be 'YYYY-MM-DD HH:MM:SS' (UTC)"),
        ("2026-11-20 10:00:00+02:00", "restore_before must be 'YYYY-MM-DD HH:MM:SS' (UTC)"),
        ("2026-02-30 10:00:00", "restore_before must be 'YYYY-MM-DD HH:MM:SS' (UTC)"),
    ],
)
def test_a_time_before_every_snapshot_or_malformed_is_refused(tmp_path, before, message):
    done = pick(tmp_path, before)
    assert done.returncode != 0 and message in done.stderr, done.stderr
