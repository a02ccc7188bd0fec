"""The sweep engine: every check of every server, concurrently, in one asyncio loop.

Concurrency is bounded by one semaphore shared by all network operations (DNS queries, TCP
connects, TLS probes), and every operation has its own timeout that starts once it holds a slot,
so a slow or black-holed server costs at most its own timeouts and never holds up the others.
Storage-agnostic: the sweep returns results; `store.record_results` turns them into alerts.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from mailfleet.clock import utcnow

from . import dnschecks
from .config import MonitoringConfig
from .dnsbl import DnsblList
from .dnsclient import DnsClient, DnsUnavailable
from .netprobe import TlsProbe, https_get, port_open, probe_imap, probe_relay, probe_smtp
from .outcome import Outcome, unknown
from .results import CheckResult, Status
from .targets import MailDomain, ServerTarget
from .tlsinfo import certificate_outcome, client_contexts

T = TypeVar("T")
MTA_STS_PATH = "/.well-known/mta-sts.txt"


async def fetch_mta_sts_policy(dns_client: DnsClient, host: str, context: ssl.SSLContext, timeout: float,
                               slots: asyncio.Semaphore) -> tuple[int, str]:
    """(HTTP status, body) of https://<host>/.well-known/mta-sts.txt, at the address DNS gives."""
    addresses = await dns_client.addresses(host, "A") or await dns_client.addresses(host, "AAAA")
    if not addresses:
        raise LookupError(f"{host} has no address")
    async with slots:
        return await https_get(addresses[0], host, MTA_STS_PATH, context, timeout)


@dataclass(frozen=True)
class SweepReport:
    results: tuple[CheckResult, ...]
    started_at: datetime
    duration_s: float
    servers: int
    # The blocklists asked this sweep (by the zone checks show) and why each failed its self-test
    # (None: it passed). A list that failed is skipped: its listings read unknown.
    list_selftests: dict[str, str | None] = field(default_factory=dict)

    def counts(self) -> Counter[Status]:
        return Counter(r.status for r in self.results)

    def for_server(self, server: str) -> dict[str, CheckResult]:
        return {r.check: r for r in self.results if r.server == server}


class SweepEngine:
    def __init__(self, config: MonitoringConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock
        self.verifying, self.inspecting = client_contexts(config.ca_file)

    def run(self, targets: Sequence[ServerTarget]) -> SweepReport:
        return asyncio.run(self.sweep(targets))

    async def sweep(self, targets: Sequence[ServerTarget]) -> SweepReport:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("server names in one sweep must be unique")
        started_at, t0 = self.clock(), time.monotonic()
        run = _Sweep(self)
        per_server = await asyncio.gather(*(run.server(t) for t in targets))
        results = tuple(r for rs in per_server for r in rs)
        return SweepReport(results, started_at, time.monotonic() - t0, len(targets), run.selftests())


class _Sweep:
    """State of one sweep: the shared semaphore, the DNS client (and its cache), per-zone memos."""

    def __init__(self, engine: SweepEngine) -> None:
        cfg = engine.config
        self.engine = engine
        self.cfg = cfg
        self.slots = asyncio.Semaphore(cfg.max_concurrency)
        self.dns = DnsClient(cfg.resolver, cfg.resolver_port, cfg.dns_timeout, self.slots)
        self._zones: dict[str, asyncio.Task[str]] = {}
        self._soa: dict[str, asyncio.Task[Outcome]] = {}
        self._delegation: dict[str, asyncio.Task[Outcome]] = {}
        self._selftests: dict[str, asyncio.Task[str | None]] = {}

    async def guard(self, server: str, key: str, work: Awaitable[Outcome]) -> CheckResult:
        try:
            outcome = await work
        except DnsUnavailable as exc:
            outcome = unknown(str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken check reports UNKNOWN, the sweep goes on
            outcome = unknown(f"check failed: {type(exc).__name__}: {exc}")
        return outcome.result(server, key, self.engine.clock())

    async def server(self, t: ServerTarget) -> list[CheckResult]:
        cfg, dns_client, checks = self.cfg, self.dns, self.cfg.checks
        jobs: list[Awaitable[CheckResult]] = []

        def add(key: str, work: Awaitable[Outcome]) -> None:
            jobs.append(self.guard(t.name, key, work))

        if "ports" in checks:
            for addr in t.addresses:
                for port in t.ports or cfg.ports:
                    add(f"port:{port}@{addr}", self._port(addr, port))
        if "dns" in checks:
            add(f"dns:a:{t.hostname}", dnschecks.host_addresses(dns_client, t, "A"))
            add(f"dns:aaaa:{t.hostname}", dnschecks.host_addresses(dns_client, t, "AAAA"))
            for d in t.domains:
                add(f"mx:{d.name}", dnschecks.mx(dns_client, t, d))
                add(f"spf:{d.name}", dnschecks.spf(dns_client, t, d))
                add(f"dkim:{d.name}", dnschecks.dkim(dns_client, t, d))
                add(f"dmarc:{d.name}", dnschecks.dmarc(dns_client, t, d))
                add(f"dns:dmarc-reports:{d.name}", dnschecks.dmarc_reports(dns_client, d))
                add(f"dns:tls-rpt:{d.name}", dnschecks.tls_rpt(dns_client, d))
        if "mta_sts" in checks:
            for d in t.domains:
                add(f"mta_sts:{d.name}", dnschecks.mta_sts(dns_client, t, d, self._fetch_policy,
                                                            cfg.require_mta_sts))
        if "ptr" in checks:
            for addr in t.addresses:
                add(f"ptr:{addr}", dnschecks.ptr(dns_client, t, addr))
        if "soa" in checks:
            for d in t.domains:
                jobs.append(self._zone_result(t.name, d, "soa", self._soa, dnschecks.soa_serials))
                jobs.append(self._zone_result(t.name, d, "dns:delegation", self._delegation,
                                              dnschecks.ns_delegation))
        if "dnsbl" in checks:
            for addr in t.addresses:
                for lst in cfg.ip_lists:
                    add(f"dnsbl:{lst.shown}:{addr}", self._listing(addr, lst))
            for d in t.domains:
                for lst in cfg.domain_lists:
                    add(f"dnsbl:{lst.shown}:{d.name}", self._listing(d.name, lst))
        if t.addresses and "smtp" in checks:
            for name in t.relays:
                add(f"relay:{name}", self._relay(t.addresses[0], name))
        groups: list[Awaitable[list[CheckResult]]] = []
        if t.addresses and ("smtp" in checks or "tlsa" in checks):
            groups.append(self._smtp_and_tlsa(t))
        if t.addresses and "imap" in checks:
            groups.append(self._imap(t))
        singles, grouped = await asyncio.gather(asyncio.gather(*jobs), asyncio.gather(*groups))
        return [*singles, *(r for g in grouped for r in g)]

    def selftests(self) -> dict[str, str | None]:
        """The lists asked this sweep, by shown zone: why each failed its self-test, None: passed."""
        lists = {lst.zone: lst for lst in (*self.cfg.ip_lists, *self.cfg.domain_lists)}
        return {
            lists[zone].shown: task.result()
            for zone, task in self._selftests.items()
            if zone in lists and task.done() and not task.cancelled() and task.exception() is None
        }

    async def _listing(self, subject: str, lst: DnsblList) -> Outcome:
        """A list that fails its self-test (once per sweep) reads unknown for every subject, never
        clean: a dead or refusing list answers "not listed" for everything."""
        failed = await self._memo(self._selftests, lst.zone, lambda: dnschecks.dnsbl_selftest(self.dns, lst))
        if failed:
            return unknown(f"{lst.name} is skipped: it failed its self-test: {failed}")
        return await dnschecks.dnsbl_listing(self.dns, subject, lst)

    async def _port(self, addr: str, port: int) -> Outcome:
        async with self.slots:
            return await port_open(addr, port, self.cfg.connect_timeout)

    async def _relay(self, addr: str, domain: str) -> Outcome:
        async with self.slots:
            return await probe_relay(addr, domain, self.cfg.ehlo_name, self.cfg.tls_timeout)

    async def _fetch_policy(self, host: str) -> tuple[int, str]:
        return await fetch_mta_sts_policy(self.dns, host, self.engine.verifying, self.cfg.tls_timeout,
                                          self.slots)

    async def _zone_result(self, server: str, domain: MailDomain, prefix: str,
                           memo: dict[str, asyncio.Task[Outcome]],
                           check: Callable[[DnsClient, str], Awaitable[Outcome]]) -> CheckResult:
        """Serials and delegation are properties of the zone: checked once per sweep, reported per
        server."""
        try:
            zone = await self._memo(self._zones, domain.name, lambda: self.dns.zone_of(domain.name))
        except DnsUnavailable as exc:
            return unknown(str(exc)).result(server, f"{prefix}:{domain.name}", self.engine.clock())
        outcome = self._memo(memo, zone, lambda: check(self.dns, zone))
        return await self.guard(server, f"{prefix}:{zone}", outcome)

    @staticmethod
    async def _memo(cache: dict[str, asyncio.Task[T]], key: str, make: Callable[[], Awaitable[T]]) -> T:
        task = cache.get(key)
        if task is None:
            task = cache[key] = asyncio.ensure_future(make())
        return await asyncio.shield(task)

    def _cert(self, probe: TlsProbe, where: str) -> Outcome:
        return certificate_outcome(probe.der, probe.verify_error, self.engine.clock(),
                                   self.cfg.cert_warn_days, where)

    async def _smtp_and_tlsa(self, t: ServerTarget) -> list[CheckResult]:
        address = t.addresses[0]
        async with self.slots:
            probe = await probe_smtp(address, t.hostname, self.cfg.ehlo_name, self.engine.verifying,
                                     self.engine.inspecting, self.cfg.tls_timeout)
        now = self.engine.clock()
        out: list[CheckResult] = []
        if "smtp" in self.cfg.checks:
            out.append(probe.service.result(t.name, "smtp:banner", now))
            if probe.starttls is not None:
                out.append(probe.starttls.result(t.name, "smtp:starttls", now))
            if probe.der is not None or probe.starttls is None or probe.starttls.status is not Status.UNKNOWN:
                out.append(self._cert(probe, "port 25").result(t.name, "tls:25", now))
        if "tlsa" in self.cfg.checks:
            out.append(await self.guard(t.name, f"tlsa:{t.hostname}",
                                        dnschecks.tlsa(self.dns, t, probe.der, self.cfg.require_tlsa)))
        return out

    async def _imap(self, t: ServerTarget) -> list[CheckResult]:
        async with self.slots:
            probe = await probe_imap(t.addresses[0], t.hostname, t.imap_probe, self.engine.verifying,
                                     self.engine.inspecting, self.cfg.tls_timeout)
        now = self.engine.clock()
        out = [probe.service.result(t.name, "imap:login", now)]
        if probe.der is not None or probe.verify_error is None:
            out.append(self._cert(probe, "port 993").result(t.name, "tls:993", now))
        return out
