"""A daemon stopped by its recorded PID takes along what it started: a worker pool that ignores
SIGTERM is killed, and its workers, each in a session of its own with a playbook of its own
running, go with it instead of running on for the rest of the test session."""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

from mailfleet.procfs import descendants
from testbed.daemons import Recorded, start, stop

pytestmark = pytest.mark.unit

# Two "workers" that each leave the pool's session and start a long child, the pool deaf to SIGTERM.
POOL = textwrap.dedent(
    """
    import os, signal, subprocess, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(2):
        if os.fork() == 0:
            os.setsid()
            subprocess.Popen(["sleep", "600"]).wait()
            os._exit(0)
    time.sleep(600)
    """
)


def wait_for(predicate, what: str):
    for _ in range(200):
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_pool_deaf_to_sigterm_is_killed_with_its_workers_and_their_children(tmp_path):
    pool = start([sys.executable, "-c", POOL], log=tmp_path / "pool.log")
    family = wait_for(lambda: len(kin := descendants(pool.pid)) == 4 and kin, "two workers and their sleeps")
    records = [Recorded.of(pid) for pid in family]

    stop(pool, timeout=0.5)

    assert not pool.alive()
    assert [r for r in records if r is not None and r.alive()] == []


def test_descendants_of_a_gone_process_are_none():
    assert descendants(2**22 + 1) == []


def test_what_a_test_left_running_is_found_by_its_folder_killed_and_reported(tmp_path):
    from leftovers import RUNNERS, fail_on_leftovers, left_behind

    mine = start(["sleep", "600"], log=tmp_path / "sleep.log", env={"MAILFLEET_DATA_DIR": str(tmp_path)})
    other = start(["sleep", "600"], log=tmp_path / "other.log", env={"MAILFLEET_DATA_DIR": "/elsewhere"})
    # Another session's folder, whose name starts with this one's (pytest-86 beside pytest-8).
    sibling_dir = f"{tmp_path}6/x"
    sibling = start(["sleep", "600"], log=tmp_path / "sibling.log", env={"MAILFLEET_DATA_DIR": sibling_dir})
    try:
        assert list(left_behind(tmp_path)) == [mine]
        assert left_behind(tmp_path, RUNNERS) == {}  # a sleep is no worker or playbook
        with pytest.raises(AssertionError, match=rf"{mine.pid}: sleep 600"):
            fail_on_leftovers(tmp_path)
        assert not mine.alive() and other.alive() and sibling.alive()
    finally:
        stop(sibling)
        stop(other)
        stop(mine)
