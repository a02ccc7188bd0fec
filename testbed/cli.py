"""mailfleet-testbed: start, inspect and stop the local testbed.

mailfleet-testbed up --hosts 2        DNS, ACME, Redis, apt proxy and two hosts
mailfleet-testbed status              what runs, as JSON
mailfleet-testbed ssh host1 [cmd]     a root shell (or a command) on a host
mailfleet-testbed down                stop everything by recorded PID, remove links
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from testbed import DOUBLE_PORTS, Testbed, TestbedError
from testbed.hosts import SSH_OPTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mailfleet-testbed", description="The mailfleet local testbed.")
    parser.add_argument(
        "--instance",
        type=int,
        default=None,
        help="instance number (default: $MAILFLEET_TESTBED_INSTANCE or 1)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start services (and hosts); safe to run again")
    up.add_argument("--hosts", type=int, default=0, help="at least this many hosts (host1..N)")
    up.add_argument(
        "--double",
        action="append",
        default=[],
        choices=sorted(DOUBLE_PORTS),
        help="also start this API double (repeatable)",
    )
    sub.add_parser("down", help="stop everything this instance started")
    sub.add_parser("status", help="print what runs, as JSON")
    ssh = sub.add_parser("ssh", help="open a root shell on a host, or run a command")
    ssh.add_argument("host")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        print("mailfleet-testbed: run as root (network namespaces, nspawn, mounts)", file=sys.stderr)
        return 2
    tb = Testbed(args.instance)
    try:
        if args.command == "up":
            tb.up(hosts=args.hosts)
            for name in args.double:
                tb.start_double(name)
            print(json.dumps(tb.status(), indent=2))
        elif args.command == "down":
            tb.down()
            print(f"testbed instance {tb.instance} is down")
        elif args.command == "status":
            print(json.dumps(tb.status(), indent=2))
        elif args.command == "ssh":
            host = tb.host(args.host)
            os.execvp(  # noqa: S606 - replaces this CLI with an interactive ssh
                "ssh", ["ssh", *SSH_OPTIONS, "-t", "-i", str(host.ssh_key), f"root@{host.address}", *args.cmd]
            )
    except (TestbedError, ValueError) as exc:
        print(f"mailfleet-testbed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
