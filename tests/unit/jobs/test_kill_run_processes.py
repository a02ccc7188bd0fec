"""A run's processes are killed, not only stopped, when the search for them outlasts the wait (a
loaded machine): before, they were left stopped (state T) for good."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from jobs import processes
from mailfleet.procfs import STATE, stat_fields

pytestmark = pytest.mark.unit


def test_processes_found_after_the_deadline_are_killed_not_left_stopped(tmp_path):
    marker = str(tmp_path / "run-private-dir")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
    try:
        deadline = time.monotonic() + 30
        while marker not in processes.cmdline(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # No time at all to wait: the deadline has passed when the first search ends.
        assert processes.kill_run_processes(None, marker, wait=0) == 1
        assert child.wait(timeout=10) == -9
        assert stat_fields(child.pid) is None or stat_fields(child.pid)[STATE] != "T"
    finally:
        child.kill()
        child.wait()
