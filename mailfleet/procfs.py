"""A process's line in /proc/<pid>/stat (Linux): how a recorded PID is checked before it is
signalled (its state, session and start time), by the workers and the testbed alike."""

from __future__ import annotations

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
