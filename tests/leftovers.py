"""Processes a test left running, found by the test's own temporary folder: named in their
environment (MAILFLEET_DATA_DIR, DATABASE_URL, ... inherited by every worker, work-horse and
playbook) or on their command line. Left behind, they load the machine for the rest of the run."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mailfleet.procfs import PROC
from testbed.daemons import Recorded, kill_family

#: What the control plane starts: rq workers and pools, the scheduler, and the playbooks they run.
RUNNERS = ("rq", "mailfleet-cron", "ansible-playbook", "ansible-runner")


def _read(pid: str, name: str) -> bytes:
    try:
        return (PROC / pid / name).read_bytes()
    except OSError:
        return b""


def _program(cmdline: bytes) -> str:
    """The program: argv[0], or the script a Python interpreter runs (.venv/bin/rq)."""
    argv = [os.path.basename(a.decode(errors="replace")) for a in cmdline.split(b"\0")[:2]]
    if len(argv) == 2 and argv[0].startswith("python"):
        return argv[1]
    return argv[0]


def left_behind(folder: Path, programs: tuple[str, ...] | None = None) -> dict[Recorded, str]:
    """Live processes naming `folder` (only those running one of `programs`, when given), with
    their command lines; never this process."""
    # The folder itself or a path inside it, not a sibling whose name starts the same (pytest-8 is
    # not pytest-86: another session's, on a machine several people test on).
    needle = re.compile(re.escape(str(folder).rstrip("/").encode()) + rb"(?:/|\0|$)")
    found: dict[Recorded, str] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        cmdline = _read(entry.name, "cmdline")
        if programs is not None and _program(cmdline) not in programs and b"AnsiballZ_" not in cmdline:
            continue
        record = Recorded.of(int(entry.name))
        named = needle.search(cmdline) or needle.search(_read(entry.name, "environ"))
        if record and record.alive() and named:
            found[record] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def fail_on_leftovers(folder: Path, programs: tuple[str, ...] | None = None) -> None:
    """Kill what a test left behind (by recorded PID), then fail saying what it was."""
    found = left_behind(folder, programs)
    if found:
        kill_family(set(found))
        listing = "\n".join(f"  {record.pid}: {line}" for record, line in found.items())
        raise AssertionError(f"processes left running (now killed):\n{listing}")
