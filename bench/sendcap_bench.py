"""The sending caps policy service's answer time at a steady request rate (goal: p99 < 5 ms at
500 requests/s, so Postfix never waits on it).

    .venv/bin/python bench/sendcap_bench.py [--rate 500] [--seconds 10] [--connections 8]
        [--baseline REV [--rounds 3]]

Runs roles/mailu/files/sendcap.py as its unit does (its own python3 process, a cap table, a state
file) on loopback of this machine, not on a testbed host; each connection is one smtpd process of
Postfix keeping its policy connection open, asking as Postfix does for a one-recipient message of an
authenticated sender: once for the recipient (its receiver group's caps; recipients at gmail.com,
outlook.com, yahoo.com, icloud.com and the server's own domain, matched by name: no MX query) and
once at the end of the message (counted: the path that takes the lock and may write the state file).
A requests/s figure counts both kinds.

With --baseline, the service of that git revision (the "before") and the one in the working tree
(the "after") are measured in turns, --rounds times each, so that both meet the same load of a
shared machine; each line gives one side's figures over all its rounds.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICE = REPO / "roles/mailu/files/sendcap.py"
GOAL_P99_MS = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


RECIPIENT_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "acme.test")


def requests_of(index: int, message: int) -> tuple[bytes, bytes]:
    """A one-recipient message's two policy requests (one transaction: one `instance`)."""
    common = (
        f"request=smtpd_access_policy\nsasl_username=user{index}@acme.test\nclient_address=198.51.100.9\n"
        f"instance={index}.{message}\n"
    )
    to = f"someone{message}@{RECIPIENT_DOMAINS[message % len(RECIPIENT_DOMAINS)]}"
    return (
        f"{common}protocol_state=RCPT\nrecipient={to}\n\n".encode(),
        f"{common}protocol_state=END-OF-MESSAGE\nrecipient_count=1\n\n".encode(),
    )


def client(port: int, rate: float, until: float, index: int, latencies: list[float]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        stream = sock.makefile("rb")
        next_at = time.monotonic()
        sent = 0
        while next_at < until:
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            started = time.perf_counter()
            sock.sendall(requests_of(index, sent // 2)[sent % 2])
            sent += 1
            stream.readline()
            stream.readline()
            latencies.append((time.perf_counter() - started) * 1000)
            next_at += 1 / rate


def write_caps(caps: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    caps.write_text(json.dumps({
        "sending_ip": "198.51.100.7",
        "ip_days": {today: {"daily": 10**9, "hourly": 10**9}},
        "domains": {"acme.test": {"daily": 10**9}},
        "groups": {
            name: {"suffixes": [name + ".com"] if name != "other" else [],
                   "days": {today: {"daily": 10**9, "hourly": 10**9}}}
            for name in ("gmail", "outlook", "yahoo", "icloud", "other")
        },
        "local_domains": ["acme.test"],
    }))


def measure(service_file: Path, tmp: Path, args: argparse.Namespace) -> list[float]:
    """Answer times (ms) of one run of the service in `service_file` at the asked rate."""
    caps, state = tmp / "caps.json", tmp / "counts.json"
    write_caps(caps)
    state.unlink(missing_ok=True)
    port = free_port()
    service = subprocess.Popen([
        "/usr/bin/python3", str(service_file), "--listen", f"127.0.0.1:{port}",
        "--caps", str(caps), "--state", str(state),
    ])
    latencies: list[float] = []
    try:
        wait_for(port)
        until = time.monotonic() + args.seconds
        per_connection = args.rate / args.connections
        threads = [
            threading.Thread(target=client, args=(port, per_connection, until, i, latencies))
            for i in range(args.connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        service.terminate()
        service.wait(timeout=10)
    return latencies


def summary(name: str, latencies: Sequence[float], seconds: float, args: argparse.Namespace) -> bool:
    """Prints one side's figures; True when its p99 meets the goal."""
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    ok = p99 < GOAL_P99_MS
    print(
        f"{name}: {len(ordered) / seconds:.0f} requests/s over {args.connections} connections, "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ordered[-1]:.2f} ms "
        f"(goal p99 < {GOAL_P99_MS:.0f} ms at {args.rate:.0f}/s): {'ok' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline", help="a git revision whose service is measured beside this one")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side with --baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.baseline:
            latencies = measure(SERVICE, Path(tmp), args)
            return 0 if summary("sendcap policy service", latencies, args.seconds, args) else 1
        before = Path(tmp) / "before" / "sendcap.py"
        before.parent.mkdir()
        shown = subprocess.run(["git", "show", f"{args.baseline}:{SERVICE.relative_to(REPO)}"],
                               cwd=REPO, capture_output=True, text=True, check=True)
        before.write_text(shown.stdout)
        sides: dict[Path, list[float]] = {before: [], SERVICE: []}
        for _ in range(args.rounds):
            for service_file, latencies in sides.items():
                latencies.extend(measure(service_file, Path(tmp), args))
    seconds = args.seconds * args.rounds
    summary(f"before ({args.baseline})", sides[before], seconds, args)
    return 0 if summary("after (working tree)", sides[SERVICE], seconds, args) else 1


if __name__ == "__main__":
    sys.exit(main())
