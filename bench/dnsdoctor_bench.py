"""Benchmark: the DNS doctor on the testbed's real BIND + Unbound: one domain's full run (goal
< 2 s) and N domains (default 1,000; goal < 60 s) split over the CPUs as the job runs them, with
the queries sent per domain. The baseline, run first under the same load: propagation asking
every authoritative server for every record (``ask_every_server``), as it did before servers with
the same SOA serial shared one answer.

Every domain gets exactly the records mailfleet publishes (MX, SPF, DKIM, DMARC, SRV, autoconfig,
TLS-RPT; A of its mail host; PTR), loaded through TSIG-signed RFC 2136 updates into a zone
delegated under the testbed's example.test, so delegation, serials, mail routing, authentication,
client setup, CAA, TLSA and propagation over both authoritative servers and the resolver are all
really asked. The machine's load average is printed with the figures: they depend on it.

``--before REV`` compares with the doctor of another commit instead of the every-server baseline:
the two run in turn (``--rounds`` times each), each in a process of its own as the job runs it, on
the same zone at the same moment, and both are printed.

    MAILFLEET_TESTBED_INSTANCE=18 .venv/bin/python bench/dnsdoctor_bench.py [--domains 1000]
        [--before main --rounds 2]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.tsigkeyring
import dns.update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailfleet.dns import build_units  # noqa: E402
from mailfleet.dnsdoctor import Doctor, DoctorConfig  # noqa: E402
from mailfleet.dnsdoctor.engine import PER_PROCESS  # noqa: E402
from mailfleet.monitoring import MailDomain, ServerTarget  # noqa: E402
from testbed import Testbed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ONE_GOAL_S, MANY_GOAL_S = 2.0, 60.0
ZONE = "doctor.example.test"
KEY = base64.b64encode(b"bench-dkim-key-" * 8).decode()
DEFAULTS = {"publish": {"mta_sts": False}}


def pairs(tb: Testbed, n: int) -> list[tuple[ServerTarget, MailDomain]]:
    out = []
    for i in range(n):
        domain = MailDomain(f"d{i:04d}.{ZONE}", dkim_public_key=KEY)
        # one mail server serving every domain, as a tenant's server does
        out.append((ServerTarget("s1", f"mail.{ZONE}", ipv4=(tb.layout.host_address(197),),
                                 domains=(domain,)), domain))
    return out


def load(tb: Testbed, work: list[tuple[ServerTarget, MailDomain]]) -> int:
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    records = []
    for target, domain in work:
        units = build_units(host=target.hostname, ipv4=target.ipv4,
                            domains=[{"name": domain.name, "dkim_public_key": KEY}], defaults=DEFAULTS)
        records += [r for unit in units for r in unit.records]
    for start in range(0, len(records), 400):
        msg = dns.update.UpdateMessage(ZONE, keyring=keyring, keyalgorithm=info.tsig_algorithm)
        for r in records[start:start + 400]:
            msg.add(r.name + ".", r.ttl, r.rtype, r.wire_text())
        if dns.query.tcp(msg, info.primary, timeout=60).rcode() != 0:
            raise SystemExit("zone update failed")
    address = tb.layout.host_address(197)
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    msg = dns.update.UpdateMessage(tb._dns.reverse_zone(), keyring=keyring, keyalgorithm=info.tsig_algorithm)
    msg.delete(reverse, "PTR")
    msg.add(reverse, 300, "PTR", f"{work[0][0].hostname}.")
    dns.query.tcp(msg, info.primary, timeout=10)
    return len(records) + 1


def in_sync(tb: Testbed, timeout: float = 120) -> None:
    def serial(server: str) -> int:
        return dns.query.udp(dns.message.make_query(ZONE, "SOA"), server, timeout=2).answer[0][0].serial

    end = time.monotonic() + timeout
    while serial(tb.dns.secondary) != serial(tb.dns.primary) and time.monotonic() < end:
        time.sleep(0.2)


def many(label: str, doctor: Doctor, work: list[tuple[ServerTarget, MailDomain]]) -> tuple[float, float]:
    """One run_many as the job runs it: wall time, CPU (this process and its children), queries
    per domain and statuses printed; returns (wall time, queries per domain)."""
    busy = os.getloadavg()[0]
    t0 = time.monotonic()
    cpu0 = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    sent0 = doctor.queries_sent
    reports = doctor.run_many(work)
    wall = time.monotonic() - t0
    cpu = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
    per_domain = (doctor.queries_sent - sent0) / len(reports)
    used = min(len(os.sched_getaffinity(0)), len(work) // PER_PROCESS) or 1
    statuses = Counter(r.status.value for r in reports)
    print(f"  {label}: {len(reports)} domains in {used} process(es): {wall:.1f} s, {per_domain:.1f} queries "
          f"a domain, {cpu:.1f} s of CPU ({cpu / len(reports) * 1000:.0f} ms a domain) at load {busy:.1f}, "
          f"statuses {dict(statuses)}")
    return wall, per_domain


# Run in a process of its own with the doctor of the tree given: run_many over the domains, then
# its figures as JSON (the tree's own Doctor and DoctorConfig; the fields given are in every one).
_MEASURE = """
import json, os, resource, sys, time
from collections import Counter
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["tree"])
from mailfleet.dnsdoctor import Doctor, DoctorConfig
from mailfleet.monitoring import MailDomain, ServerTarget
work = []
for name in spec["domains"]:
    domain = MailDomain(name, dkim_public_key=spec["key"])
    work.append((ServerTarget("s1", spec["host"], ipv4=tuple(spec["ipv4"]), domains=(domain,)), domain))
doctor = Doctor(DoctorConfig(**spec["config"]))
busy = os.getloadavg()[0]
t0, cpu0 = time.monotonic(), time.process_time()
reports = doctor.run_many(work)
wall = time.monotonic() - t0
cpu = time.process_time() - cpu0 + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
import mailfleet
print(json.dumps({"wall": wall, "cpu": cpu, "load": busy, "queries": doctor.queries_sent,
                  "statuses": Counter(r.status.value for r in reports), "code": mailfleet.__file__}))
"""


def tree_of(rev: str, into: Path) -> Path:
    """The mailfleet package of commit ``rev``, unpacked under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "mailfleet"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


Work = list[tuple[ServerTarget, MailDomain]]


def measured(label: str, tree: Path, config: dict[str, Any], work: Work) -> float:
    """One run_many with the doctor of ``tree`` in a process of its own; its figures printed, its
    wall time returned."""
    spec = {"tree": str(tree), "domains": [d.name for _, d in work], "key": KEY, "host": work[0][0].hostname,
            "ipv4": list(work[0][0].ipv4), "config": config}
    out = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps(spec)], check=True, capture_output=True,
                         text=True, cwd=tree).stdout
    got = json.loads(out.splitlines()[-1])
    if not Path(got["code"]).is_relative_to(tree):
        raise SystemExit(f"{label}: ran the doctor of {got['code']}, not of {tree}")
    n = len(work)
    print(f"  {label}: {n} domains: {got['wall']:.1f} s, {got['queries'] / n:.1f} queries a domain, "
          f"{got['cpu']:.1f} s of CPU ({got['cpu'] / n * 1000:.1f} ms a domain) at load {got['load']:.1f}, "
          f"statuses {got['statuses']}", flush=True)
    return float(got["wall"])


def compare(rev: str, rounds: int, config: dict[str, Any], work: Work) -> None:
    """The doctor of ``rev`` and this one's, in turn, ``rounds`` times each."""
    with tempfile.TemporaryDirectory(prefix="doctor-before-") as folder:
        before_tree = tree_of(rev, Path(folder))
        before, now = [], []
        for _ in range(rounds):
            before.append(measured(f"before ({rev})", before_tree, config, work))
            now.append(measured("now", ROOT, config, work))
    best_before, best_now = min(before), min(now)
    print(f"{len(work)} domains: {best_now:.1f} s now against {best_before:.1f} s before (best of {rounds}); "
          f"goal: < {MANY_GOAL_S:.0f} s    {'MET' if best_now < MANY_GOAL_S else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    instance = int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "17"))
    parser.add_argument("--instance", type=int, default=instance)
    parser.add_argument("--keep", action="store_true", help="leave the testbed running afterwards")
    parser.add_argument("--before", metavar="REV", help="compare with the doctor of this commit")
    parser.add_argument("--rounds", type=int, default=1, help="with --before: runs of each (default 1)")
    args = parser.parse_args()
    if not 1 <= args.domains <= 10000:
        parser.error("--domains must be in 1..10000")
    tb = Testbed(args.instance)
    tb.up()
    try:
        tb.set_secondary_delay(0)
        tb.add_zone(ZONE)
        work = pairs(tb, args.domains)
        t0 = time.monotonic()
        print(f"setup: {load(tb, work)} records for {args.domains} domains in {time.monotonic() - t0:.1f} s")
        in_sync(tb)
        settings: dict[str, Any] = {"resolver": tb.dns.resolver, "panel": (tb.dns.resolver,),
                                    "require_mta_sts": False, "record_defaults": DEFAULTS}
        config = DoctorConfig(**settings)
        doctor = Doctor(config)
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        one = doctor.run(*work[0])
        print(f"one domain: {one.seconds:.2f} s, {doctor.queries_sent} queries, status {one.status.value}, "
              f"{len(one.checks)} checks, {len(one.propagation)} records x {len(one.propagation[0].answers)} "
              f"servers    goal: < {ONE_GOAL_S:.0f} s    {'MET' if one.seconds < ONE_GOAL_S else 'MISSED'}")
        if args.before:
            compare(args.before, args.rounds, settings, work)
            return 0
        # the baseline, then the run as the job does it
        every = Doctor(replace(config, ask_every_server=True))
        before, before_q = many("baseline (every server asked)", every, work)
        after, after_q = many("now", doctor, work)
        print(f"{args.domains} domains: {after:.1f} s    goal: < {MANY_GOAL_S:.0f} s    "
              f"{'MET' if after < MANY_GOAL_S else 'MISSED'} ({after / MANY_GOAL_S:.0%} of the goal; "
              f"baseline {before:.1f} s); queries a domain {after_q:.1f}, baseline {before_q:.1f}")
    finally:
        if not args.keep:
            tb.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
