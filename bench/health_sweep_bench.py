"""Benchmark: one full health sweep of N simulated mail servers (default 1,000).

DNS and DNSBL checks run against the testbed's real BIND + Unbound (zone data created here through
TSIG-signed RFC 2136 updates); port checks run against real listening sockets on 127.0.0.0/8,
served by a child process (server i gets its own address 127.<100+instance>.x.y and all 11 ports).
Prints the wall time beside the goal (< 60 s on the 2-core machine) and the capacity that implies
at a 5-minute cadence.

    MAILFLEET_TESTBED_INSTANCE=18 .venv/bin/python bench/health_sweep_bench.py [--servers 1000]
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import multiprocessing
import os
import selectors
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import dns.query
import dns.tsigkeyring
import dns.update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailfleet.monitoring import (  # noqa: E402
    DEFAULT_PORTS,
    MailDomain,
    MonitoringConfig,
    ServerTarget,
    SweepEngine,
)
from testbed import Testbed  # noqa: E402

GOAL_S = 60.0
CADENCE_S = 300
ZONE = "bench.test"
BL_ZONE = "dnsbl.test"
IP_LISTS = ("zen", "barracuda", "spamcop", "uceprotect", "backscatterer", "psbl", "mailspike", "s5h",
            "spamrats")
KEY = base64.b64encode(b"bench-dkim-key-" * 8).decode()
LISTED_EVERY = 50  # every 50th server is listed on the first list


def address(instance: int, i: int) -> str:
    return str(ipaddress.IPv4Address(f"127.{100 + instance}.0.1") + i)


def targets(instance: int, n: int) -> list[ServerTarget]:
    return [
        ServerTarget(f"s{i:04d}", f"mail.s{i:04d}.{ZONE}", ipv4=(address(instance, i),),
                     domains=(MailDomain(f"s{i:04d}.{ZONE}", dkim_public_key=KEY),))
        for i in range(n)
    ]


def load_zone_data(tb: Testbed, servers: list[ServerTarget], reverse_zone: str) -> int:
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    per_zone: dict[str, list[tuple[str, str, str]]] = {ZONE: [], BL_ZONE: [], reverse_zone: []}
    for i, s in enumerate(servers):
        d, ip = s.domains[0].name, s.ipv4[0]
        rev = ".".join(reversed(ip.split(".")))
        per_zone[ZONE] += [
            (s.hostname, "A", ip), (d, "MX", f"10 {s.hostname}."), (d, "TXT", '"v=spf1 mx -all"'),
            (f"dkim._domainkey.{d}", "TXT", f'"v=DKIM1; k=rsa; p={KEY}"'),
            (f"_dmarc.{d}", "TXT", '"v=DMARC1; p=reject"'),
        ]
        per_zone[reverse_zone].append((f"{rev}.in-addr.arpa", "PTR", f"{s.hostname}."))
        if i % LISTED_EVERY == 0:
            per_zone[BL_ZONE].append((f"{rev}.{IP_LISTS[0]}.{BL_ZONE}", "A", "127.0.0.2"))
    count = 0
    for zone, records in per_zone.items():
        for start in range(0, len(records), 300):
            msg = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=info.tsig_algorithm)
            for name, rtype, value in records[start:start + 300]:
                msg.replace(name + ".", 300, rtype, value)
            response = dns.query.tcp(msg, info.primary, timeout=30)
            if response.rcode() != 0:
                raise SystemExit(f"zone update for {zone} failed: rcode {response.rcode()}")
            count += len(records[start:start + 300])
    return count


def listen(addresses: list[str], ports: tuple[int, ...], ready, stop) -> None:
    """Child process: a listening socket per address and port; accept and close every connection."""
    sel = selectors.DefaultSelector()
    for addr in addresses:
        for port in ports:
            sock = socket.create_server((addr, port), backlog=64)
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
    ready.set()
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.2):
            try:
                conn, _ = key.fileobj.accept()
                conn.close()
            except BlockingIOError:
                pass


def wait_secondary(tb: Testbed, zones: list[str], timeout: float = 60) -> None:
    import dns.message

    def serial(server: str, zone: str) -> int:
        return dns.query.udp(dns.message.make_query(zone, "SOA"), server, timeout=2).answer[0][0].serial

    end = time.monotonic() + timeout
    for zone in zones:
        while serial(tb.dns.secondary, zone) != serial(tb.dns.primary, zone) and time.monotonic() < end:
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--instance", type=int,
                        default=int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "18")))
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--sweeps", type=int, default=2, help="the first runs with cold caches")
    parser.add_argument("--keep", action="store_true", help="leave the testbed running afterwards")
    args = parser.parse_args()
    if not 1 <= args.servers <= 60000:
        parser.error("--servers must be in 1..60000")

    tb = Testbed(args.instance)
    t0 = time.monotonic()
    tb.up()
    reverse_zone = f"{100 + args.instance}.127.in-addr.arpa"
    for zone in (ZONE, BL_ZONE, reverse_zone):
        tb.add_zone(zone)
    servers = targets(args.instance, args.servers)
    records = load_zone_data(tb, servers, reverse_zone)
    wait_secondary(tb, [ZONE, BL_ZONE, reverse_zone])
    print(f"setup: testbed {args.instance} up, {records} records loaded in {time.monotonic() - t0:.1f} s")

    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    child = ctx.Process(target=listen, args=([s.ipv4[0] for s in servers], DEFAULT_PORTS, ready, stop),
                        daemon=True)
    child.start()
    if not ready.wait(120):
        raise SystemExit("listeners did not start")
    print(f"listeners: {args.servers * len(DEFAULT_PORTS)} sockets on {address(args.instance, 0)} .. "
          f"{address(args.instance, args.servers - 1)}")

    config = MonitoringConfig.from_mapping({
        "resolver": tb.dns.resolver,
        "checks": ["ports", "dns", "ptr", "soa", "mta_sts", "dnsbl"],
        "require_mta_sts": False,
        "max_concurrency": args.concurrency,
        "ip_lists": [{"name": n, "zone": f"{n}.{BL_ZONE}", "delist_url": f"https://{n}.{BL_ZONE}/"}
                     for n in IP_LISTS],
        "domain_lists": [{"name": "dbl", "zone": f"dbl.{BL_ZONE}", "delist_url": f"https://dbl.{BL_ZONE}/",
                          "codes": {"127.0.1.2": {"meaning": "spam domain"}}}],
    })
    engine = SweepEngine(config)
    try:
        for n in range(1, args.sweeps + 1):
            report = engine.run(servers)
            counts = Counter(r.status.value for r in report.results)
            by_check = Counter(r.check.split(":")[0] for r in report.results if r.status.value != "ok")
            wall = report.duration_s
            print(f"\nsweep {n}{' (cold caches)' if n == 1 else ''}: {report.servers} servers, "
                  f"{len(report.results)} checks ({len(report.results) / report.servers:.0f} per server)")
            print(f"  statuses: {dict(sorted(counts.items()))}; "
                  f"not ok by check: {dict(sorted(by_check.items()))}")
            print(f"  wall time: {wall:6.1f} s    goal: < {GOAL_S:.0f} s    "
                  f"{'MET' if wall < GOAL_S else 'MISSED'} ({wall / GOAL_S:.0%} of the goal)")
            print(f"  implied capacity at a {CADENCE_S // 60}-minute cadence: "
                  f"{int(report.servers * CADENCE_S / wall):,} servers (goal: room for 5,000)")
    finally:
        stop.set()
        child.join(5)
        if child.is_alive():
            child.kill()
        if not args.keep:
            tb.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
