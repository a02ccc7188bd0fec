"""A recorded PID is checked through /proc/<pid>/stat by the workers (a run's session) and the
testbed (a daemon's start time) alike: one reading, right also for a command name with spaces and
parentheses, and nothing once the process is gone."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from jobs.processes import session_of
from mailfleet.procfs import SESSION, START_TIME, STATE, stat_fields
from testbed.daemons import Recorded

pytestmark = pytest.mark.unit


@pytest.fixture
def oddly_named_sleep(tmp_path):
    program = tmp_path / "sleep) (x Z"  # the kernel's command name: the file's name
    shutil.copy(shutil.which("sleep"), program)
    proc = subprocess.Popen([str(program), "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_fields_after_an_odd_command_name(oddly_named_sleep):
    pid = oddly_named_sleep.pid
    fields = stat_fields(pid)
    assert fields is not None and fields[STATE] in {"S", "R"}
    assert int(fields[SESSION]) == pid  # a session of its own
    assert session_of(pid) == pid
    record = Recorded.of(pid)
    assert record is not None and record.started == int(fields[START_TIME]) and record.alive()
    # The same PID with another start time is somebody else's process.
    assert not Recorded(pid, record.started + 1).alive()


def test_a_gone_process_has_no_fields(oddly_named_sleep):
    pid = oddly_named_sleep.pid
    record = Recorded.of(pid)
    oddly_named_sleep.kill()
    oddly_named_sleep.wait()
    assert stat_fields(pid) is None and session_of(pid) is None
    assert record is not None and not record.alive()
