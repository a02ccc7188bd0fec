"""`make demo` brings the stack up on the testbed and `make down` leaves no process or interface."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testbed import Testbed
from testbed.daemons import Recorded

pytestmark = pytest.mark.testbed


def _first_sweep(database: Path) -> tuple[str, str]:
    """The monitoring check's status and detail once a sweep has recorded it (bounded poll)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as conn:
            row = conn.execute(
                "SELECT last_status, last_detail FROM health_checks"
                " WHERE server_id IS NULL AND \"check\" = 'monitoring'"
            ).fetchone()
        if row:
            return row
        time.sleep(1)
    raise AssertionError("no health sweep recorded its outcome")


def test_demo_up_twice_then_down_leaves_nothing(testbed, tmp_path, repo_root):
    instance = (testbed.instance + 100) % 256  # beside the session's instance, never the real demo's 0
    port = 18000 + instance
    env = {
        **os.environ,
        "MAILFLEET_DEMO_INSTANCE": str(instance),
        "MAILFLEET_DEMO_PORT": str(port),
        "MAILFLEET_DEMO_DATA_DIR": str(tmp_path / "demo"),
    }
    demo = [sys.executable, "-m", "testbed.demo"]
    tb = Testbed(instance)
    try:
        first = subprocess.run(
            [*demo, "up"], env=env, cwd=repo_root, capture_output=True, text=True, timeout=300
        )
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"http://127.0.0.1:{port}" in first.stdout and "Password" in first.stdout
        started = {n: Recorded.from_json(d) for n, d in tb.state.read()["processes"].items()}
        assert {
            "stack-web",
            "stack-worker",
            "stack-system",
            "stack-reaper",
            "stack-cron",
            "redis",
            "named-primary",
            "pebble",
            "double-hostwinds",
            "double-digitalocean",
            "double-mailu",
        } <= set(started)
        assert all(r.alive() for r in started.values())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as page:
            assert page.status == 200
        # rq cron's first health sweep (at its start) works with the demo's settings.
        assert _first_sweep(tmp_path / "demo" / "mailfleet.db") == ("ok", "sweep of 0 server(s): 0 checks")

        # Safe to run again: the same processes stay, nothing is started twice.
        second = subprocess.run(
            [*demo, "up"], env=env, cwd=repo_root, capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 0, second.stdout + second.stderr
        again = {n: Recorded.from_json(d) for n, d in tb.state.read()["processes"].items()}
        assert again == started
        assert second.stdout.split("Password")[1].split()[0] == first.stdout.split("Password")[1].split()[0]
    finally:
        down = subprocess.run(
            [*demo, "down"], env=env, cwd=repo_root, capture_output=True, text=True, timeout=300
        )
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(r.alive() for r in started.values())
    assert tb.status()["links"] == []
    leftovers = subprocess.run(["pgrep", "-f", f"testbed/{instance}/"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
