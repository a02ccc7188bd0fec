"""The DNS doctor: every DNS check of one mail domain, its findings in fixing order with the records
to set and the DNS host's own steps, the propagation of its records, and its readiness.

The checks are the monitoring package's (`mailfleet.monitoring.dnschecks`); the doctor runs them
for one domain, reads their finding codes and adds what a person needs to act. The expected
records are the ones mailfleet publishes (`mailfleet.dns.build_units`), so "the exact record to
set" is never a second opinion.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import dns.reversename

from mailfleet.clock import utcnow
from mailfleet.dns.mailrecords import build_units
from mailfleet.dns.rdata import Record
from mailfleet.monitoring import dnschecks
from mailfleet.monitoring.dnsclient import DnsClient, DnsUnavailable
from mailfleet.monitoring.dnssec import dnssec_chain
from mailfleet.monitoring.engine import fetch_mta_sts_policy
from mailfleet.monitoring.netprobe import served_certificate
from mailfleet.monitoring.outcome import Outcome, unknown
from mailfleet.monitoring.results import Status
from mailfleet.monitoring.targets import MailDomain, ServerTarget
from mailfleet.monitoring.tlsinfo import client_contexts

from .findings import CATALOGUE, SECTIONS, Finding
from .guidance import DnsHost, detect_host, steps_for
from .propagation import NameServer, RecordPropagation, propagation

__all__ = ["Doctor", "DoctorConfig", "Readiness", "Report", "caa_identity"]

_SEVERITY = {Status.ERROR: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.OK: 3}
# Propagation is followed for the records mail depends on (routing and authentication); client
# setup records (SRV, autoconfig) are published alongside and are not worth a round per server.
PROPAGATED_TYPES = frozenset({"MX", "TXT", "A", "AAAA"})
# The CAA issuer domain each ACME directory of the letsencrypt role (``letsencrypt_directory``)
# names in its ``meta.caaIdentities`` (RFC 8555 7.1.1); Pebble names none and checks no CAA.
_CAA_IDENTITIES: dict[str, str | None] = {
    "letsencrypt": "letsencrypt.org", "letsencrypt_staging": "letsencrypt.org", "pebble": None,
}


def caa_identity(directory: str) -> str | None:
    """The issuer domain CAA records must allow for certificates from ``directory``."""
    if directory not in _CAA_IDENTITIES:
        raise ValueError(f"letsencrypt_directory {directory!r} is not one of {', '.join(_CAA_IDENTITIES)}")
    return _CAA_IDENTITIES[directory]


# Domains below which a process of its own costs more (starting Python, importing) than it saves.
PER_PROCESS = 100
# Queries in flight (and domains under way) per process. More is not faster once the resolver
# queues: on the testbed's loaded machine 1,000 domains with 256 in flight lost a sixth of their
# answers (unknown, not ready), and 128 was slower than 64 with none lost.
CONCURRENCY = 64


class Readiness(StrEnum):
    """A domain is ready only when no blocking finding is left and every server agrees."""

    PROPAGATING = "propagating"  # right at the newest server, not yet everywhere
    READY = "ready"
    FAILING = "failing"  # a blocking finding
    UNKNOWN = "unknown"  # a server did not answer (twice): neither ready nor failing is known


# DNS hosts whose SOA serial says nothing of the data behind it (Route 53 keeps serial 1).
_SERIAL_IGNORED = frozenset({"route53"})

# Blocking findings that do not make a domain failing: time fixes the first, the second is a
# question without an answer.
_NOT_FAILING = frozenset({"delegation.lagging", "check.unavailable"})


@dataclass(frozen=True)
class DoctorConfig:
    resolver: str  # the project's own recursive resolver: every lookup goes through it
    port: int = 53  # of the authoritative servers
    resolver_port: int = 53
    timeout: float = 3.0
    panel: tuple[str, ...] = ()  # resolvers whose caches are compared for propagation
    managed: str | None = None  # rfc2136 | cloudflare: the site's DNS provider updates the zone
    ca_file: str | None = None  # for the MTA-STS policy fetch
    require_mta_sts: bool = True
    proxy_networks: tuple[str, ...] = dnschecks.CLOUDFLARE_NETWORKS
    # the CAA issuer domain of the ACME CA the certificates come from (``caa_identity``); None: a CA
    # that checks no CAA (Pebble), so none is checked
    acme_ca: str | None = "letsencrypt.org"
    ehlo_name: str = "monitor.mailfleet.invalid"  # said when reading the certificate served on port 25
    tls_timeout: float = 15.0
    record_defaults: Mapping[str, Any] = field(default_factory=dict)  # the dns role's domain defaults
    # propagation asks every authoritative server for every record, even those whose serials agree
    # (always for DNS hosts whose serial does not follow their data)
    ask_every_server: bool = False


@dataclass(frozen=True)
class Report:
    domain: str
    zone: str
    host: DnsHost
    checked_at: datetime
    findings: tuple[Finding, ...]
    checks: Mapping[str, Outcome]  # check key (``spf``, ``ptr:192.0.2.1``) -> its outcome
    propagation: tuple[RecordPropagation, ...]
    seconds: float

    @property
    def status(self) -> Readiness:
        blocking = [f for f in self.findings if f.blocking]
        if any(f.code not in _NOT_FAILING and not self.settling(f) for f in blocking):
            return Readiness.FAILING
        unanswered = any(r.unanswered for r in self.propagation)
        if unanswered or any(f.code == "check.unavailable" for f in blocking):
            return Readiness.UNKNOWN
        if blocking or not all(r.complete for r in self.propagation):
            return Readiness.PROPAGATING
        return Readiness.READY

    def settling(self, finding: Finding) -> bool:
        """Every authoritative server already serves the finding's fix and a resolver of the panel
        still holds an older answer: the check saw a cache that lets go within its TTL."""
        wanted = {(r.name, r.rtype) for r in finding.records}
        followed = [r for r in self.propagation if (r.name, r.rtype) in wanted]
        return bool(wanted) and len(followed) == len(wanted) and all(r.stale for r in followed)

    @property
    def settles_in(self) -> int | None:
        """Seconds until every record is right everywhere (0: already; None: no TTL bounds it)."""
        waits = [r.settles_in for r in self.propagation if not r.complete]
        known = [w for w in waits if w is not None]
        return None if len(known) < len(waits) else max(known, default=0)

    @property
    def reasons(self) -> list[str]:
        """Why the domain is not ready, one line each (empty when ready)."""
        lines = [f"{f.problem.title}: {f.detail}"
                 + (" (the name servers already serve the fix; a resolver still caches the old answer)"
                    if self.settling(f) else "")
                 for f in self.findings if f.blocking]
        lines += [f"{r.name} {r.rtype}: {r.agreeing} of {len(r.answers)} servers agree"
                  for r in self.propagation if not r.complete]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "zone": self.zone, "dns_host": self.host.to_dict(),
            "checked_at": self.checked_at.isoformat(), "status": self.status.value,
            "seconds": round(self.seconds, 3), "reasons": self.reasons, "settles_in": self.settles_in,
            "findings": [f.to_dict() for f in self.findings],
            "checks": {k: {"status": o.status.value, "detail": o.detail, "code": o.code}
                       for k, o in sorted(self.checks.items())},
            "propagation": [r.to_dict() for r in self.propagation],
        }


class Doctor:
    def __init__(self, config: DoctorConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self._verifying = client_contexts(config.ca_file)[0]
        self.queries_sent = 0  # by this doctor's runs so far, in every process

    def run(self, target: ServerTarget, domain: MailDomain) -> Report:
        return self.run_many([(target, domain)])[0]

    def run_many(self, pairs: Sequence[tuple[ServerTarget, MailDomain]], concurrency: int = CONCURRENCY,
                 processes: int | None = None) -> list[Report]:
        """Many domains, in order. Each process runs one loop sharing one resolver client (and its
        cache) and asks about each zone (delegation, serials, its servers) once. The waiting
        overlaps within a loop; what is left is building and parsing DNS messages, CPU, so past
        ``PER_PROCESS`` domains each CPU takes a slice of them (``processes`` forces a count).
        ``concurrency`` is the queries in flight of the whole run, shared by its processes: the
        resolver's queue is the same whatever the count (two processes of 64 each doubled it, and
        1,000 domains took 72 s instead of one process's 33 s)."""
        workers = processes or min(_cpus(), len(pairs) // PER_PROCESS) or 1
        if workers == 1:
            reports, sent = _run_here(self, pairs, concurrency)
            self.queries_sent += sent
            return reports
        size = -(-len(pairs) // workers)
        # consecutive slices: the domains of one zone, listed together, share its zone questions
        slices = [list(pairs[i:i + size]) for i in range(0, len(pairs), size)]
        spawn = multiprocessing.get_context("spawn")  # a clean child: no inherited sockets or locks
        with ProcessPoolExecutor(len(slices), mp_context=spawn) as pool:
            share = max(1, concurrency // len(slices))
            parts = list(pool.map(_run_slice, [self.config] * len(slices), [self.clock] * len(slices),
                                  slices, [share] * len(slices)))
        self.queries_sent += sum(sent for _, sent in parts)
        return [report for reports, _ in parts for report in reports]

    def _client(self, slots: asyncio.Semaphore | None = None) -> DnsClient:
        cfg = self.config
        return DnsClient(cfg.resolver, cfg.resolver_port, cfg.timeout, slots)

    async def diagnose(self, target: ServerTarget, domain: MailDomain,
                       client: DnsClient | None = None, zones: _Zones | None = None) -> Report:
        cfg = self.config
        client = client or self._client()
        zones = zones or _Zones(client, cfg.port)
        t0 = time.monotonic()
        try:
            zone = await zones.zone_of(domain.name)
        except DnsUnavailable as exc:
            outcome = unknown(f"the zone holding {domain.name} cannot be found: {exc}")
            host = detect_host([], cfg.managed)
            steps = tuple(steps_for("check.unavailable", host, (), domain.name, ""))
            finding = Finding("check.unavailable", Status.UNKNOWN, outcome.detail, guidance=steps)
            return Report(domain.name, domain.name, host, self.clock(), (finding,),
                          {"zone": outcome}, (), time.monotonic() - t0)
        ns_names, authoritative, serials = await zones.servers(zone)
        host = detect_host(ns_names, cfg.managed)
        expected = _expected_records(target, domain, cfg.record_defaults)

        async def fetch(policy_host: str) -> tuple[int, str]:
            return await fetch_mta_sts_policy(client, policy_host, self._verifying, cfg.timeout,
                                              asyncio.Semaphore(4))

        async def served() -> bytes | None:  # read once per mail host, however many domains
            if not target.addresses:
                return None
            return await zones.once(("served", target.hostname), lambda: served_certificate(
                target.addresses[0], target.hostname, cfg.ehlo_name, cfg.tls_timeout))

        async def _dane(mail_zone: str) -> Outcome:  # judged on the mail host zone's own chain
            return await dnschecks.dane(client, target, mail_zone,
                                        await zones.check(mail_zone, dnssec_chain), served)

        work: dict[str, Awaitable[Outcome]] = {
            "delegation": zones.check(zone, dnschecks.ns_delegation),
            "soa": zones.check(zone, dnschecks.soa_serials),
            "dnssec": zones.check(zone, dnssec_chain),
            "mx": dnschecks.mx(client, target, domain),
            "host:a": dnschecks.host_addresses(client, target, "A", cfg.proxy_networks),
            "host:aaaa": dnschecks.host_addresses(client, target, "AAAA", cfg.proxy_networks),
            **{f"ptr:{a}": dnschecks.ptr(client, target, a) for a in target.addresses},
            "spf": dnschecks.spf(client, target, domain),
            "dkim": dnschecks.dkim(client, target, domain),
            "dmarc": dnschecks.dmarc(client, target, domain),
            "dmarc:reports": dnschecks.dmarc_reports(client, domain),
            "mta-sts": dnschecks.mta_sts(client, target, domain, fetch, cfg.require_mta_sts),
            "tls-rpt": dnschecks.tls_rpt(client, domain),
            "tlsa": self._in_zone_of(zones, target.hostname, lambda z: _dane(z)),
        }
        # the names certificates are issued for: the mail host, and the MTA-STS policy host
        for name in sorted({target.hostname} | {r.name for r in expected if r.name.startswith("mta-sts.")}):
            if cfg.acme_ca is not None:
                work[f"caa:{name}"] = dnschecks.caa(client, name, cfg.acme_ca)
        if any(r.name.startswith("autoconfig.") for r in expected):
            work["autoconfig"] = dnschecks.autoconfig(client, target, domain)
        services = [r for r in expected if r.rtype == "SRV"]
        if services:
            work["srv"] = dnschecks.srv(client, services)
        panel = [NameServer(f"resolver {a}", a, "resolver") for a in cfg.panel]
        in_zone = [r for r in expected
                   if r.rtype in PROPAGATED_TYPES and (r.name == zone or r.name.endswith("." + zone))]
        results, prop = await asyncio.gather(
            asyncio.gather(*(_guard(w) for w in work.values())),
            propagation(client, in_zone, authoritative, serials, panel, cfg.port,
                        cfg.ask_every_server or host.key in _SERIAL_IGNORED),
        )
        outcomes = dict(zip(work, results, strict=True))
        findings = [self._finding(key, o, host, zone, expected, ns_names, target)
                    for key, o in outcomes.items() if o.status is not Status.OK]
        findings.sort(key=lambda f: (SECTIONS.index(f.problem.section), _SEVERITY[f.status], f.code))
        return Report(domain.name, zone, host, self.clock(), tuple(findings), outcomes, tuple(prop),
                      time.monotonic() - t0)

    @staticmethod
    async def _in_zone_of(zones: _Zones, name: str,
                          check: Callable[[str], Awaitable[Outcome]]) -> Outcome:
        return await check(await zones.zone_of(name))

    def _finding(self, key: str, outcome: Outcome, host: DnsHost, zone: str, expected: list[Record],
                 ns_names: list[str], target: ServerTarget) -> Finding:
        code = outcome.code if outcome.code in CATALOGUE else "check.unavailable"
        records = _fix_records(code, key, outcome, expected, ns_names, zone, target, self.config.acme_ca)
        steps = steps_for(code, host, records, zone, outcome.detail)
        return Finding(code, outcome.status, outcome.detail, tuple(records), tuple(steps), outcome.value)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _run_here(doctor: Doctor, pairs: Sequence[tuple[ServerTarget, MailDomain]],
              concurrency: int) -> tuple[list[Report], int]:
    """The reports, and the queries sent for them."""
    async def all_of() -> tuple[list[Report], int]:
        client = doctor._client(asyncio.Semaphore(concurrency))
        zones = _Zones(client, doctor.config.port)
        # as many domains under way as queries in flight: started all at once, a thousand domains'
        # own work (building their records, their checks) held the loop while answers waited
        under_way = asyncio.Semaphore(concurrency)

        async def one(target: ServerTarget, domain: MailDomain) -> Report:
            async with under_way:
                return await doctor.diagnose(target, domain, client, zones)
        reports = list(await asyncio.gather(*(one(t, d) for t, d in pairs)))
        return reports, client.sent
    return asyncio.run(all_of())


def _run_slice(config: DoctorConfig, clock: Callable[[], datetime],
               pairs: list[tuple[ServerTarget, MailDomain]], concurrency: int) -> tuple[list[Report], int]:
    """One process's share of ``run_many``."""
    return _run_here(Doctor(config, clock), pairs, concurrency)


class _Zones:
    """What is asked once per zone however many of its domains are checked: its apex for each
    name, its name servers, their serials, the delegation and serial checks (and once per mail
    host: the certificate it serves)."""

    def __init__(self, client: DnsClient, port: int) -> None:
        self.client, self.port = client, port
        self._tasks: dict[tuple[str, str], asyncio.Task[Any]] = {}

    def once(self, key: tuple[str, str], make: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(make())
        return asyncio.shield(self._tasks[key])

    def zone_of(self, name: str) -> Awaitable[str]:
        return self.once(("zone", name), lambda: self.client.zone_of(name))

    def check(self, zone: str,
              check: Callable[[DnsClient, str, int], Awaitable[Outcome]]) -> Awaitable[Outcome]:
        return self.once((check.__name__, zone), lambda: check(self.client, zone, self.port))

    def servers(self, zone: str) -> Awaitable[tuple[list[str], list[NameServer], dict[str, int]]]:
        return self.once(("servers", zone), lambda: self._servers(zone))

    async def _servers(self, zone: str) -> tuple[list[str], list[NameServer], dict[str, int]]:
        client = self.client
        ns_names = sorted({r.target.to_text(omit_final_dot=True).lower()
                           for r in await _or_empty(client.rdatas(zone, "NS"))})
        found = await asyncio.gather(*(_or_empty(client.addresses(ns, "A")) for ns in ns_names))
        authoritative = [NameServer(ns, a, "authoritative")
                         for ns, addresses in zip(ns_names, found, strict=True) for a in addresses]
        asked = await asyncio.gather(*(_or_none(client.soa_serial_at(zone, s.address, self.port))
                                       for s in authoritative))
        serials = {s.address: serial for s, serial in zip(authoritative, asked, strict=True)
                   if serial is not None}
        return ns_names, authoritative, serials


async def _guard(work: Awaitable[Outcome]) -> Outcome:
    try:
        return await work
    except DnsUnavailable as exc:
        return unknown(str(exc))


async def _or_empty(work: Awaitable[list[Any]]) -> list[Any]:
    try:
        return await work
    except DnsUnavailable:
        return []


async def _or_none(work: Awaitable[Any]) -> Any:
    try:
        return await work
    except DnsUnavailable:
        return None


def _expected_records(target: ServerTarget, domain: MailDomain, defaults: Mapping[str, Any]) -> list[Record]:
    """The records mailfleet publishes for this host and domain (the dns role's own builder)."""
    spec = {"name": domain.name, "dkim_selector": domain.dkim_selector,
            "dkim_public_key": domain.dkim_public_key, "secondary_mx": domain.secondary_mx,
            "publish": {"dkim": bool(domain.dkim_public_key)}}
    units = build_units(host=target.hostname, ipv4=target.ipv4, ipv6=target.ipv6, domains=[spec],
                        defaults=defaults)
    return [r for unit in units for r in unit.records]


# Which published records fix a finding: by code prefix, the (name, type) they live at.
def _fix_records(code: str, key: str, outcome: Outcome, expected: list[Record], ns_names: list[str],
                 zone: str, target: ServerTarget, acme_ca: str | None) -> list[Record]:
    domain = next((r.name for r in expected if r.rtype == "MX"), zone)

    def at(name: str, rtype: str, prefix: str = "") -> list[Record]:
        return [r for r in expected if r.name == name and r.rtype == rtype and r.value.startswith(prefix)]

    family = code.partition(".")[0]
    if family == "mx":
        return at(domain, "MX")
    if code.startswith("host.aaaa"):
        return at(target.hostname, "AAAA")
    if family == "host":
        return at(target.hostname, "A") + at(target.hostname, "AAAA")
    if family == "ptr":
        address = key.partition(":")[2]
        name = dns.reversename.from_address(address).to_text(omit_final_dot=True)
        return [Record(name, "PTR", f"{target.hostname}.")]
    if family == "spf":
        return at(domain, "TXT", "v=spf1")
    if family == "dkim":
        return [r for r in expected if r.rtype == "TXT" and "._domainkey." in r.name]
    if code == "dmarc.report-unauthorized":
        return [Record(name, "TXT", "v=DMARC1") for name in str(outcome.value or "").split(", ") if name]
    if family == "dmarc":
        return at(f"_dmarc.{domain}", "TXT")
    if family == "mta-sts":
        policy_host = f"mta-sts.{domain}"
        return at(f"_mta-sts.{domain}", "TXT") + at(policy_host, "A") + at(policy_host, "AAAA")
    if family == "tls-rpt":
        return at(f"_smtp._tls.{domain}", "TXT")
    if code == "delegation.parent-mismatch":
        return [Record(zone, "NS", f"{ns}.") for ns in ns_names]
    if family == "dnssec":
        return [Record(zone, "DS", ds) for ds in str(outcome.value or "").split("; ") if ds]
    if family == "autoconfig":
        return at(f"autoconfig.{domain}", "CNAME") + at(f"autodiscover.{domain}", "CNAME")
    if family == "srv":
        return [r for r in expected if r.rtype == "SRV"]
    if code == "tlsa.mismatch":
        return [Record.make(f"_25._tcp.{target.hostname}", "TLSA", str(outcome.value))]
    if family == "caa":
        return [Record.make(str(outcome.value), "CAA", f'0 issue "{acme_ca}"')]
    return []
