"""The machine's kernel limits that many booted hosts need.

Every testbed host runs its own systemd (PID 1, journald, networkd, logind, ...), and each of those
holds inotify instances: about a dozen per host, all counted against root, the one user that owns
every instance's hosts. Debian's default of 128 inotify instances per user is spent after ten or so
hosts, and the next host's PID 1 dies at once ("Failed to allocate manager object: Too many open
files"): fifty concurrent provisionings on the Hostwinds double failed that way.

The limits are raised before hosts boot and never lowered: they belong to the whole machine, which
several testbed instances share, so `down` leaves them as they are.
"""

from __future__ import annotations

from pathlib import Path

from testbed.layout import MAX_HOSTS

# Room for several instances full of hosts: a host's systemd holds 10-12 instances after boot.
INOTIFY_INSTANCES_PER_HOST = 16
MINIMUMS = {
    "fs/inotify/max_user_instances": 4 * MAX_HOSTS * INOTIFY_INSTANCES_PER_HOST,
    "fs/inotify/max_user_watches": 524288,
}


def ensure(root: Path = Path("/proc/sys")) -> dict[str, int]:
    """Raise each limit below its minimum to that minimum; return the values now in force."""
    now = {}
    for name, minimum in MINIMUMS.items():
        path = root / name
        current = int(path.read_text())
        if current < minimum:
            path.write_text(f"{minimum}\n")
            current = minimum
        now[name] = current
    return now
