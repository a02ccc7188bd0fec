"""Mailbox usable: from the "create mailboxes" action of a tenant's page to the first accepted IMAP
login (993, the Pebble certificate checked), on a server provisioned and given a domain through the
control plane (the testbed's mail stack answering). One mailbox, then ten in one action.

Goals: one mailbox < 5 s, ten < 30 s (the last of the ten). Every mailbox's time is stored as JSON
(default: the instance's state folder, bench/mailbox_usable.json).

    MAILFLEET_TESTBED_INSTANCE=N .venv/bin/python bench/mailbox_bench.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The testbed tests' helpers, one copy: the control plane's servers and the mail clients.
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests/integration/mail")]

GOAL_ONE = 5.0
GOAL_TEN = 30.0
WAIT = 120.0


def usable(server, context, names: list[str]) -> dict[str, float]:
    """Seconds from the action to each mailbox's first accepted IMAP login."""
    from mailtest import create_mailboxes, wait_for_login

    started = time.monotonic()
    passwords = create_mailboxes(server, *names)

    def one(item: tuple[str, str]) -> tuple[str, float]:
        email, password = item
        wait_for_login(server, context, email, password, timeout=WAIT)
        return email, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        return dict(pool.map(one, passwords.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=None, help="where to store every mailbox's time")
    args = parser.parse_args()
    from controlplane import provision_tenant, running_plane
    from mailtest import tls_context

    from testbed import Testbed

    tb = Testbed()
    tb.up()
    out = args.json or tb.layout.state_dir / "bench" / "mailbox_usable.json"
    with (
        tempfile.TemporaryDirectory(prefix="mailfleet-mailbox-bench-") as tmp,
        running_plane(tb, Path(tmp)) as plane,
    ):
        server = provision_tenant(tb, plane["app"], "bm")
        try:
            context = tls_context(tb)
            one = usable(server, context, ["solo"])
            ten = usable(server, context, [f"user{n:02d}" for n in range(10)])
        finally:
            tb.stop_host(server.host.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"one": one, "ten": ten}, indent=2) + "\n")
    rows = [
        ("one mailbox: action -> IMAP login", max(one.values()), GOAL_ONE),
        ("ten mailboxes in one action: the last -> IMAP login", max(ten.values()), GOAL_TEN),
    ]
    print(f"{'measure':<55} {'figure':>9} {'goal':>9}")
    for name, figure, goal in rows:
        print(f"{name:<55} {figure:>7.2f} s {'< ' + format(goal, 'g') + ' s':>9}")
    print(f"ten, each (s): {sorted(round(v, 2) for v in ten.values())}")
    print(f"stored: {out}")


if __name__ == "__main__":
    main()
