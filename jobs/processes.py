"""Finding and killing a run's processes through /proc (Linux), by recorded PID, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from mailfleet.procfs import PROC, SESSION, STATE, descendants, stat_fields


def session_of(pid: int, *, zombies: bool = False) -> int | None:
    """The session id of a live process (None for gone processes, and zombies unless asked)."""
    fields = stat_fields(pid)
    return int(fields[SESSION]) if fields and (zombies or fields[STATE] != "Z") else None


def alive(pid: int) -> bool:
    return session_of(pid) is not None


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def run_processes(session_id: int | None, marker: str | None) -> list[int]:
    """Processes in the run's session, or whose command line mentions its private directory, and
    every live process those started: Ansible's forks move to sessions of their own, and the
    module processes they start (a task's command) name neither.

    The session counts only while its leader's command line still names the private directory:
    a recorded PID reused by an unrelated process is never touched.
    """
    me = os.getpid()
    if session_id is not None and marker and marker not in cmdline(session_id):
        session_id = None
    found = []
    for pid in _pids():
        if pid == me:
            continue
        if (
            session_id is not None
            and session_of(pid) == session_id
            or marker
            and marker in cmdline(pid)
            and alive(pid)
        ):
            found.append(pid)
    started = {d for pid in found for d in descendants(pid) if alive(d)}
    return found + sorted(started - set(found))


def kill_run_processes(session_id: int | None, marker: str | None, wait: float = 3.0) -> int:
    """SIGKILL them all, wait until they are gone; returns how many were killed. All are stopped
    (SIGSTOP) first, until no new one appears: a process killed before its children would leave
    them, no longer its descendants, running for nobody."""
    killed = 0
    deadline = time.monotonic() + wait
    while True:
        pids = _stopped(session_id, marker)
        # Killed before the deadline is looked at: on a loaded machine the search alone can outlast
        # it, and processes stopped but never killed would stay behind, stopped, for good.
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        if not pids or time.monotonic() > deadline:
            return killed
        time.sleep(0.01)  # a killed process is gone within milliseconds; this runs after every run


def _stopped(session_id: int | None, marker: str | None) -> set[int]:
    stopped: set[int] = set()
    while new := set(run_processes(session_id, marker)) - stopped:
        for pid in new:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
    return stopped
