#!/usr/bin/python3
"""Sending caps for Mailu's Postfix: a policy service (Postfix SMTPD policy delegation) asked for
each recipient (smtpd_recipient_restrictions) and at the end of each message
(smtpd_end_of_data_restrictions), both set by the mailu role through Mailu's
overrides/postfix/postfix.cf.

Mail from an authenticated user counts against three keys: the server's sending IP, the user's
domain and the user. Each key may have a daily and an hourly cap (UTC day and hour) in the cap
table the control plane pushes (caps.json, read again whenever it changes); the IP's caps come
dated for the days ahead, so the day's cap changes at midnight UTC without a push. A message whose
recipients would take any key above its cap is answered 451 (the client keeps it and tries again
later; nothing is lost); otherwise it is counted and Postfix goes on (DUNNO). Mail without a login
(inbound on port 25) is not counted.

Receiver groups pace the warm-up per receiver (Gmail, Microsoft, Yahoo, Apple, the rest): a
recipient belongs to the first group one of whose suffixes its domain, or the domain's first MX
host, is or ends in (the group with no suffixes takes the rest). Each group has its own dated
caps in the table. A recipient that would take its group above a cap is answered 451 on its own
(the message's other recipients go on); those let through are held for their transaction (Postfix's
`instance`) and counted with the message at its end. Recipients in the server's own domains
(`local_domains`) are not paced: their mail never meets a receiver that judges the IP. A missing or
unreadable table defers every authenticated message: a server must not send uncapped because its
caps did not arrive. If this service is down,
Postfix answers the policy's default_action (451 as well).

Counts are kept in memory and written to the state file once a second when they changed, and at
exit, so a restart keeps the day's counts; a thread of its own writes them, so no answer waits on
the disk. It runs with the host's python3: the standard library and Debian's
python3-dnspython (the MX queries), which the role installs.
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver

DUNNO = "DUNNO"
NO_TABLE = "451 4.3.0 Sending caps are not available yet; try again later"
FLUSH_EVERY = 1.0
PENDING_SECONDS = 900.0  # a transaction's held recipients, forgotten after smtpd's timeouts
MX_CACHE_SECONDS = 3600.0
MX_TIMEOUT = 2.0  # a recipient's MX lookup, all its tries
MX_TRY_TIMEOUT = 0.5  # one query's: a datagram lost on the way is asked again within MX_TIMEOUT


def keys_of(request: dict[str, str], table: dict[str, Any], day: str) -> list[tuple[str, str, dict]]:
    """(kind, key, caps) for each key this request counts against. The IP's caps are dated (the
    warm-up plan's days ahead): the entry of the latest date up to today holds."""
    user = request.get("sasl_username", "").lower()
    domain = user.rpartition("@")[2]
    return [
        ("ip", table.get("sending_ip", ""), dated(table.get("ip_days"), day)),
        ("domain", domain, (table.get("domains") or {}).get(domain) or {}),
        ("mailbox", user, (table.get("mailboxes") or {}).get(user) or {}),
    ]


def dated(days: dict[str, Any] | None, day: str) -> dict[str, int]:
    """The caps of the latest date up to `day` in a dated table ({} when none)."""
    days = days or {}
    current = max((d for d in days if d <= day), default=None)
    return days[current] if current else {}


def group_of(domain: str, groups: dict[str, Any], mx: Callable[[str], str | None]) -> str | None:
    """The receiver group of a recipient domain: by the domain, else by its MX host; None: no
    groups in the table."""
    rest = next((name for name, group in groups.items() if not group.get("suffixes")), None)
    for host in (domain, None):
        if host is None:
            host = mx(domain) or ""
        host = host.lower().rstrip(".")
        for name, group in groups.items():
            if any(host == s or host.endswith("." + s) for s in group.get("suffixes") or ()):
                return name
    return rest


def decide(
    request: dict[str, str],
    table: dict[str, Any] | None,
    counts: dict,
    now: datetime,
    pending: dict[str, Any] | None = None,
    mx: Callable[[str], str | None] = lambda _domain: None,
) -> str:
    """The policy answer for one request. For a recipient (protocol_state RCPT): its receiver
    group's caps, the recipient held in `pending` under its transaction when let through. At the end
    of a message: the IP's, domain's and mailbox's caps; the message is counted, with its held
    recipients' groups, when it is let through."""
    if not request.get("sasl_username"):
        return DUNNO
    pending = {} if pending is None else pending
    day = f"{now.year:04d}-{now.month:02d}-{now.day:02d}"  # strftime costs several times more
    hour = f"{day}T{now.hour:02d}"
    if request.get("protocol_state") == "RCPT":
        domain = paced_domain(request, table)  # a missing table: the end of the message answers NO_TABLE
        return DUNNO if domain is None else _recipient(request, domain, table, counts, pending, day, hour, mx)
    held = pending.pop(request.get("instance", ""), {}).get("groups", {})
    if table is None:
        return NO_TABLE
    recipients = max(1, int(request.get("recipient_count") or 1))
    keys = keys_of(request, table, day)
    for kind, key, caps in keys:
        refusal = _over(counts, f"{kind}:{key}", caps, recipients, day, hour)
        if refusal:
            return f"451 4.7.1 Sending cap reached: {kind} {key} may send {refusal}; try again later"
    for name, number in [(f"{kind}:{key}", recipients) for kind, key, _ in keys] + [
        (f"group:{group}", number) for group, number in held.items()
    ]:
        entry = _current(counts, name, day, hour)
        entry["day_count"] += number
        entry["hour_count"] += number
    return DUNNO


def paced_domain(request: dict[str, str], table: dict[str, Any] | None) -> str | None:
    """The domain of a recipient (protocol_state RCPT) of an authenticated sender whose receiver
    group is asked; None when none is: no table or no groups in it, or one of the server's own
    domains (delivered into its own mailboxes: no receiver judges the IP)."""
    if not request.get("sasl_username") or request.get("protocol_state") != "RCPT":
        return None
    if not table or not table.get("groups"):
        return None
    domain = request.get("recipient", "").rpartition("@")[2].lower()
    return None if domain in (table.get("local_domains") or ()) else domain


def _recipient(request: dict[str, str], domain: str, table: dict[str, Any], counts: dict,
               pending: dict[str, Any], day: str, hour: str, mx: Callable[[str], str | None]) -> str:
    groups = table["groups"]
    group = group_of(domain, groups, mx)
    if group is None:
        return DUNNO
    transaction = pending.setdefault(request.get("instance", ""), {"at": time.monotonic(), "groups": {}})
    held = transaction["groups"].get(group, 0)
    refusal = _over(counts, f"group:{group}", dated(groups[group].get("days"), day), held + 1, day, hour)
    if refusal:
        return (
            f"451 4.7.1 Sending cap reached: receivers {group} may get {refusal} from "
            f"{table.get('sending_ip', '')} while it warms up; try again later"
        )
    transaction["groups"][group] = held + 1
    return DUNNO


def _over(counts: dict, name: str, caps: dict[str, int], adding: int, day: str, hour: str) -> str | None:
    """"N messages per day (M sent)" when adding `adding` messages takes `name` above a cap."""
    entry = _current(counts, name, day, hour)
    for window, used in (("daily", entry["day_count"]), ("hourly", entry["hour_count"])):
        cap = caps.get(window)
        if cap is not None and used + adding > cap:
            return f"{cap} messages per {'day' if window == 'daily' else 'hour'} ({used} sent)"
    return None


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


def first_mx(domain: str, resolver: dns.resolver.Resolver) -> str | None:
    """The most preferred MX host of `domain`, in lower case; None when there is none or the query fails (the
    recipient then counts in the group of the rest). The resolver asks again over TCP when the UDP
    answer comes back truncated (a domain with many MX hosts)."""
    try:
        answer = resolver.resolve(domain.rstrip(".") + ".", "MX", lifetime=MX_TIMEOUT)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        return None
    best = min(answer, key=lambda mx: (mx.preference, mx.exchange.to_text()), default=None)
    return best.exchange.to_text(omit_final_dot=True).lower() if best is not None else None


def host_resolver() -> dns.resolver.Resolver:
    """The host's resolver (/etc/resolv.conf), else one on the host itself. A query unanswered after
    MX_TRY_TIMEOUT is sent again: with one try in the whole MX_TIMEOUT, a lost datagram put the
    domain in the group of the rest for MX_CACHE_SECONDS."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
    resolver.timeout = MX_TRY_TIMEOUT
    return resolver


class MxCache:
    """First MX hosts by domain, kept MX_CACHE_SECONDS (a failed query too, so a broken domain
    costs one query an hour, not one per recipient)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self.found: dict[str, tuple[float, str | None]] = {}

    def __call__(self, domain: str) -> str | None:
        domain = domain.lower()
        now = time.monotonic()
        hit = self.found.get(domain)
        if hit is None or hit[0] < now:
            if len(self.found) > 100_000:
                self.found.clear()
            hit = self.found[domain] = (now + MX_CACHE_SECONDS, first_mx(domain, self.resolver))
        return hit[1]


class Policy:
    """The table (reloaded when its file changes), the counts and their state file, the recipients
    held per transaction, one lock."""

    def __init__(self, caps: Path, state: Path, mx: Callable[[str], str | None] | None = None) -> None:
        self.caps, self.state = caps, state
        self.lock = threading.Lock()
        self.table: dict[str, Any] | None = None
        self.stamp: tuple[int, int] | None = None
        self.counts: dict[str, Any] = load_table(state) or {}
        self.pending: dict[str, Any] = {}
        self.mx = mx or MxCache(host_resolver())
        self.dirty = False
        self.swept = time.monotonic()

    def answer(self, request: dict[str, str]) -> str:
        """One request's answer. No request waits on the disk or the DNS while holding the lock: the
        table's file is looked at before it, a recipient's MX query made before it (a slow or lost
        DNS answer holds up that recipient alone, not every connection's requests), and the counts
        are written by `flush_every`'s thread."""
        self._reload()
        table = self.table
        domain = paced_domain(request, table)
        if domain is not None and table is not None:
            group_of(domain, table["groups"], self.mx)  # fills the cache decide() reads under the lock
        with self.lock:
            self._sweep()
            result = decide(request, self.table, self.counts, datetime.now(UTC), self.pending, self.mx)
            if result == DUNNO and request.get("sasl_username") and request.get("protocol_state") != "RCPT":
                self.dirty = True
            return result

    def _sweep(self) -> None:
        """Forget the held recipients of transactions that ended without a message (RSET, QUIT)."""
        now = time.monotonic()
        if now - self.swept < 60:
            return
        self.swept = now
        for instance in [i for i, held in self.pending.items() if now - held["at"] > PENDING_SECONDS]:
            del self.pending[instance]

    def _reload(self) -> None:
        try:
            info = self.caps.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if stamp != self.stamp:
            table = load_table(self.caps) if stamp else None
            with self.lock:
                self.stamp, self.table = stamp, table

    def flush(self) -> None:
        """Write the counts if they changed: a snapshot under the lock, the file outside it."""
        with self.lock:
            if not self.dirty:
                return
            text, self.dirty = json.dumps(self.counts), False
        partial = self.state.with_name(f".{self.state.name}.tmp")
        partial.write_text(text)
        os.replace(partial, self.state)

    def flush_every(self, stop: threading.Event) -> None:
        """Write the counts every FLUSH_EVERY seconds until `stop` is set, then once more."""
        while not stop.wait(FLUSH_EVERY):
            self.flush()
        self.flush()


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
    policy = server.policy = Policy(args.caps, args.state)  # type: ignore[attr-defined]
    stopping = threading.Event()
    flusher = threading.Thread(target=policy.flush_every, args=(stopping,))
    flusher.start()

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        stopping.set()
        flusher.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
