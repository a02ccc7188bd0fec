"""A process's line in /proc/<pid>/stat (Linux): how a recorded PID is checked before it is
signalled (its state, session and start time), and the processes it started, by the workers and
the testbed alike."""

from __future__ import annotations

import contextlib
from pathlib import Path

PROC = Path("/proc")

#: Indexes into ``stat_fields``: fields 3, 6 and 22 of proc(5), counted after the command name.
STATE, SESSION, START_TIME = 0, 3, 19


def stat_fields(pid: int) -> list[str] | None:
    """The fields after the command name (state first), or None once the process is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces and ')': split after the last one.
    return raw[raw.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """The processes `pid` started that are still its children (any of its threads)."""
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def descendants(pid: int) -> list[int]:
    """Its children, theirs and so on, whatever session or process group they moved to."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        found.extend(todo)
        todo = [c for p in todo for c in children(p)]
    return found
