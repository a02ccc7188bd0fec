#!/usr/bin/python3
"""Disk facts of a server for playbooks/health_facts.yml: the size and free space of each filesystem
holding one of the paths given (`/`, `/var`, `/srv`, Mailu's root...), measured with statvfs as df
does. Prints one JSON array, [{"mount": path, "size_bytes": n, "free_bytes": n}, ...], one entry per
filesystem (a path on the same filesystem as an earlier one is not counted twice); a path that does
not exist is left out. Read-only; Python standard library only (it runs with the host's python3
through ansible.builtin.script).

Ansible's own mount facts list only mounts whose device is a path (/dev/...), so a host whose root
is an overlay, a container's or a network filesystem reported no disk at all; statvfs answers for
any filesystem. Free space is what an unprivileged writer may still use (df's "Avail"): the blocks
reserved for root count as used.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any


def measure(paths: Iterable[str]) -> list[dict[str, Any]]:
    """One entry per distinct filesystem among `paths`, in the order given."""
    seen: set[int] = set()
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            device = os.stat(path).st_dev
            found = os.statvfs(path)
        except OSError:
            continue
        if device in seen:
            continue
        seen.add(device)
        out.append(
            {
                "mount": path,
                "size_bytes": found.f_blocks * found.f_frsize,
                "free_bytes": found.f_bavail * found.f_frsize,
            }
        )
    return out


def main(argv: list[str]) -> int:
    json.dump(measure(argv or ["/"]), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
