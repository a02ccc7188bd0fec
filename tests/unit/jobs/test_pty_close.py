"""Runner's pty child, once reaped, is closed without ptyprocess's wait for the kernel; a child
still running is waited for and killed as before."""

from __future__ import annotations

import time

import pexpect
import ptyprocess  # type: ignore[import-untyped]
import pytest

import jobs.bridge  # noqa: F401 - installs the close

pytestmark = pytest.mark.unit


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits ptyprocess makes, each still made (killing a child takes them)."""
    seen: list[float] = []
    sleep = time.sleep

    def recorded(seconds: float) -> None:
        seen.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(ptyprocess.ptyprocess.time, "sleep", recorded)
    return seen


def test_a_reaped_child_is_closed_without_waiting(sleeps: list[float]) -> None:
    child = pexpect.spawn("true", encoding="utf-8")
    child.expect(pexpect.EOF)
    while child.isalive():  # as runner's loop ends
        pass
    child.close()
    assert sleeps == [0] and child.exitstatus == 0


def test_a_running_child_is_still_given_time_then_killed(sleeps: list[float]) -> None:
    child = pexpect.spawn("sleep", ["60"], encoding="utf-8")
    child.close(force=True)
    assert sleeps[0] == 0.1 and not child.isalive() and child.signalstatus is not None
