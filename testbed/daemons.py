"""Start daemons detached and stop them by the PID we recorded, never by name.

A recorded PID is trusted only while its start time (/proc/<pid>/stat) is the one recorded, so a
reused PID is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailfleet.files import private_file
from mailfleet.procfs import START_TIME, STATE, descendants, stat_fields

# Popen objects of daemons started by this process: kept so they are reaped when stopped (and
# not garbage-collected while running, which Python reports as a ResourceWarning).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Recorded:
    """A process we started: its PID and its start time, which together never match a reused PID."""

    pid: int
    started: int  # clock ticks after boot, field 22 of /proc/<pid>/stat

    def alive(self) -> bool:
        stat = stat_fields(self.pid)
        return stat is not None and stat[STATE] != "Z" and int(stat[START_TIME]) == self.started

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "started": self.started}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Recorded:
        return cls(pid=int(data["pid"]), started=int(data["started"]))  # type: ignore[call-overload]

    @classmethod
    def of(cls, pid: int) -> Recorded | None:
        stat = stat_fields(pid)
        return None if stat is None else cls(pid, int(stat[START_TIME]))


def start(
    argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Recorded:
    """Start argv in its own session with output to log; return its PID record."""
    with open(private_file(log), "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    _children[proc.pid] = proc
    record = Recorded.of(proc.pid)
    if record is None:
        raise TestbedError(f"{argv[0]} exited at once:\n{tail(log)}")
    return record


def stop(record: Recorded, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the recorded process and wait for it to exit (SIGKILL once `timeout` passed); then
    SIGKILL whatever it had started that still runs (a worker pool's workers, their work-horses
    and the playbooks those started), which would otherwise outlive it."""
    child = _children.pop(record.pid, None)
    family = _family(record)
    try:
        if record.alive():
            os.kill(record.pid, sig)
            if not _wait_gone(record, child, timeout):
                family |= _family(record)
                os.kill(record.pid, signal.SIGKILL)
                _wait_gone(record, child, 30)
    except ProcessLookupError:
        pass
    if child is not None:  # collect our child's exit status so it leaves no zombie behind
        child.wait()
    kill_family(family)


def _family(record: Recorded) -> set[Recorded]:
    """What `record` started so far: once it exits they are found through their parent no more."""
    return {r for r in map(Recorded.of, descendants(record.pid)) if r is not None}


def kill_family(family: set[Recorded]) -> None:
    """SIGKILL these processes and every process they started. All are stopped (SIGSTOP) first,
    until no new one appears, so none forks again and leaves a child nobody knows of."""
    while True:
        alive = {r for r in family if r.alive()}
        for member in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member.pid, signal.SIGSTOP)
        found = set().union(*map(_family, alive))
        if found <= family:
            break
        family = family | found
    for member in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(member.alive() for member in alive) and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_gone(record: Recorded, child: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()
        if not record.alive():
            return True
        time.sleep(0.05)
    return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; raise with its output when it fails."""
    result = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise TestbedError(
            f"command failed ({result.returncode}): {' '.join(argv)}\n{result.stdout}{result.stderr}".strip()
        )
    return result


class TestbedError(RuntimeError):
    """Something in the testbed could not start or stop; the message says what and shows logs."""

    __test__ = False
