#!/usr/bin/python3
"""Sending caps for Mailu's Postfix: a policy service (Postfix SMTPD policy delegation) asked at the
end of each message (smtpd_end_of_data_restrictions, set by the mailu role through Mailu's
overrides/postfix/postfix.cf).

Mail from an authenticated user counts against three keys: the server's sending IP, the user's
domain and the user. Each key may have a daily and an hourly cap (UTC day and hour) in the cap
table the control plane pushes (caps.json, read again whenever it changes); the IP's caps come
dated for the days ahead, so the day's cap changes at midnight UTC without a push. A message whose
recipients would take any key above its cap is answered 451 (the client keeps it and tries again
later; nothing is lost); otherwise it is counted and Postfix goes on (DUNNO). Mail without a login
(inbound on port 25) is not counted. A missing or unreadable table defers every authenticated
message: a server must not send uncapped because its caps did not arrive. If this service is down,
Postfix answers the policy's default_action (451 as well).

Counts are kept in memory and written to the state file at most once a second and at exit, so a
restart keeps the day's counts. Python standard library only: it runs with the host's python3.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DUNNO = "DUNNO"
NO_TABLE = "451 4.3.0 Sending caps are not available yet; try again later"
FLUSH_EVERY = 1.0


def keys_of(request: dict[str, str], table: dict[str, Any], day: str) -> list[tuple[str, str, dict]]:
    """(kind, key, caps) for each key this request counts against. The IP's caps are dated (the
    warm-up plan's days ahead): the entry of the latest date up to today holds."""
    user = request.get("sasl_username", "").lower()
    domain = user.rpartition("@")[2]
    dated = table.get("ip_days") or {}
    current = max((d for d in dated if d <= day), default=None)
    return [
        ("ip", table.get("sending_ip", ""), dated[current] if current else {}),
        ("domain", domain, (table.get("domains") or {}).get(domain) or {}),
        ("mailbox", user, (table.get("mailboxes") or {}).get(user) or {}),
    ]


def decide(request: dict[str, str], table: dict[str, Any] | None, counts: dict, now: datetime) -> str:
    """The policy answer for one request; counts the message when it is let through."""
    if not request.get("sasl_username"):
        return DUNNO
    if table is None:
        return NO_TABLE
    recipients = max(1, int(request.get("recipient_count") or 1))
    day, hour = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m-%dT%H")
    keys = keys_of(request, table, day)
    for kind, key, caps in keys:
        entry = _current(counts, f"{kind}:{key}", day, hour)
        for window, used in (("daily", entry["day_count"]), ("hourly", entry["hour_count"])):
            cap = caps.get(window)
            if cap is not None and used + recipients > cap:
                per = "day" if window == "daily" else "hour"
                return (
                    f"451 4.7.1 Sending cap reached: {kind} {key} may send {cap} messages per {per} "
                    f"({used} sent); try again later"
                )
    for kind, key, _caps in keys:
        entry = _current(counts, f"{kind}:{key}", day, hour)
        entry["day_count"] += recipients
        entry["hour_count"] += recipients
    return DUNNO


def _current(counts: dict[str, Any], name: str, day: str, hour: str) -> dict[str, Any]:
    entry = counts.setdefault(name, {"day": day, "day_count": 0, "hour": hour, "hour_count": 0})
    if entry["day"] != day:
        entry.update(day=day, day_count=0)
    if entry["hour"] != hour:
        entry.update(hour=hour, hour_count=0)
    return entry


def load_table(path: Path) -> dict[str, Any] | None:
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) else None


class Policy:
    """The table (reloaded when its file changes), the counts and their state file, one lock."""

    def __init__(self, caps: Path, state: Path) -> None:
        self.caps, self.state = caps, state
        self.lock = threading.Lock()
        self.table: dict[str, Any] | None = None
        self.stamp: tuple[int, int] | None = None
        self.counts: dict[str, Any] = load_table(state) or {}
        self.dirty = False
        self.flushed = 0.0

    def answer(self, request: dict[str, str]) -> str:
        with self.lock:
            self._reload()
            result = decide(request, self.table, self.counts, datetime.now(UTC))
            if result == DUNNO and request.get("sasl_username"):
                self.dirty = True
            if self.dirty and time.monotonic() - self.flushed >= FLUSH_EVERY:
                self.flush()
            return result

    def _reload(self) -> None:
        try:
            info = self.caps.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp != self.stamp:
            self.stamp, self.table = stamp, load_table(self.caps) if stamp else None

    def flush(self) -> None:
        partial = self.state.with_name(f".{self.state.name}.tmp")
        partial.write_text(json.dumps(self.counts))
        os.replace(partial, self.state)
        self.dirty, self.flushed = False, time.monotonic()


class Handler(socketserver.StreamRequestHandler):
    """Postfix's policy protocol: name=value lines, an empty line ends a request; one connection
    carries many requests."""

    def handle(self) -> None:
        request: dict[str, str] = {}
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                name, _, value = line.partition("=")
                request[name] = value
                continue
            answer = self.server.policy.answer(request)  # type: ignore[attr-defined]
            self.wfile.write(f"action={answer}\n\n".encode())
            self.wfile.flush()
            request = {}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # Mailu's network (the address Postfix in its container reaches) may come up after us.
        self.socket.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", 15), 1)
        super().server_bind()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="address:port")
    parser.add_argument("--caps", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    address, _, port = args.listen.rpartition(":")
    server = Server((address, int(port)), Handler)
    server.policy = Policy(args.caps, args.state)  # type: ignore[attr-defined]

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        with server.policy.lock:  # type: ignore[attr-defined]
            server.policy.flush()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
