"""Has every authoritative server got the new values? Ask each one directly, wait, report laggards.

Used by the dns role (module dns_wait) after a change and by monitoring to compare servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.resolver

from .errors import DnsQueryError, PropagationTimeout
from .query import query_rrset
from .rdata import Record

__all__ = [
    "Expectation",
    "PropagationReport",
    "ServerResult",
    "authoritative_servers",
    "check_server",
    "expectations",
    "wait_everywhere",
    "wait_for_propagation",
]


@dataclass(frozen=True)
class Expectation:
    """At name/type these canonical values must be served and those must not."""

    name: str
    rtype: str
    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()


def expectations(present: Iterable[Record] = (), absent: Iterable[Record] = ()) -> list[Expectation]:
    """Group records into one Expectation per name/type."""
    groups: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for rec in present:
        groups.setdefault((rec.name, rec.rtype), (set(), set()))[0].add(rec.value)
    for rec in absent:
        groups.setdefault((rec.name, rec.rtype), (set(), set()))[1].add(rec.value)
    return [
        Expectation(name, rtype, frozenset(p), frozenset(a - p))
        for (name, rtype), (p, a) in sorted(groups.items())
    ]


@dataclass
class ServerResult:
    server: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class PropagationReport:
    results: list[ServerResult]
    seconds: float = 0.0
    rounds: int = 0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def lagging(self) -> list[str]:
        return [r.server for r in self.results if not r.ok]

    def summary(self) -> str:
        good = sum(r.ok for r in self.results)
        text = f"{good} of {len(self.results)} authoritative servers answer the new values"
        for result in self.results:
            if not result.ok:
                text += f"; {result.server} lags: " + ", ".join(result.problems[:5])
                if len(result.problems) > 5:
                    text += f" (+{len(result.problems) - 5} more)"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok, "seconds": round(self.seconds, 2), "rounds": self.rounds,
            "lagging": self.lagging, "summary": self.summary(),
            "servers": {r.server: r.problems for r in self.results},
        }


def check_server(
    server: str, wanted: Sequence[Expectation], *, port: int = 53, timeout: float = 3.0
) -> ServerResult:
    """Ask ``server`` for every expectation; list what is missing or still there."""
    result = ServerResult(server)
    for exp in wanted:
        try:
            answer = query_rrset(server, exp.name, exp.rtype, port=port, timeout=timeout)
        except DnsQueryError as exc:
            result.problems.append(str(exc))
            continue
        served = set(answer.values)
        missing = exp.present - served
        stale = exp.absent & served
        if missing:
            result.problems.append(f"{exp.name} {exp.rtype} missing {sorted(v[:60] for v in missing)}")
        if stale:
            result.problems.append(f"{exp.name} {exp.rtype} still has {sorted(v[:60] for v in stale)}")
    return result


def _resolver(resolver: str | None, port: int, timeout: float) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=resolver is None)
    if resolver is not None:
        res.nameservers = [resolver]
        res.port = port
    res.lifetime = timeout
    return res


def authoritative_servers(zone: str, *, resolver: str | None = None, port: int = 53,
                          timeout: float = 3.0) -> list[str]:
    """IPv4/IPv6 addresses of the name servers in ``zone``'s NS set, as ``resolver`` sees them."""
    res = _resolver(resolver, port, timeout)
    addresses: list[str] = []
    try:
        ns_names = sorted(r.target.to_text() for r in res.resolve(zone, "NS"))
        for ns in ns_names:
            for rtype in ("A", "AAAA"):
                try:
                    addresses += [r.address for r in res.resolve(ns, rtype)]
                except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                    continue
    except dns.exception.DNSException as exc:
        raise DnsQueryError(f"cannot find the name servers of {zone}: {exc}") from None
    if not addresses:
        raise DnsQueryError(f"the name servers of {zone} have no addresses")
    return sorted(set(addresses))


def wait_for_propagation(
    wanted: Sequence[Expectation],
    servers: Sequence[str],
    *,
    timeout: float = 120.0,
    interval: float = 2.0,
    port: int = 53,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PropagationReport:
    """Poll every server until all answer as expected; raise PropagationTimeout naming laggards.

    Servers already in sync are not asked again.
    """
    if not servers:
        raise DnsQueryError("no authoritative servers to check")
    start = clock()
    done: dict[str, ServerResult] = {}
    rounds = 0
    while True:
        rounds += 1
        pending = [s for s in servers if s not in done]
        latest = {s: check_server(s, wanted, port=port) for s in pending}
        done.update({s: r for s, r in latest.items() if r.ok})
        report = PropagationReport(
            [done.get(s) or latest[s] for s in servers], seconds=clock() - start, rounds=rounds
        )
        if report.ok:
            return report
        if clock() - start + interval > timeout:
            raise PropagationTimeout(report, f"timed out after {timeout:.0f}s: {report.summary()}")
        sleep(interval)


def wait_everywhere(
    wanted: Sequence[Expectation],
    *,
    servers: Sequence[str] = (),
    resolver: str | None = None,
    resolver_port: int = 53,
    port: int = 53,
    timeout: float = 120.0,
    interval: float = 2.0,
) -> PropagationReport:
    """Wait on ``servers`` if given; else on each zone's own NS set (zones found through ``resolver``),
    all within one ``timeout``."""
    if servers:
        return wait_for_propagation(wanted, list(servers), timeout=timeout, interval=interval, port=port)
    res = _resolver(resolver, resolver_port, 5.0)
    groups: dict[str, list[Expectation]] = {}
    for exp in wanted:
        try:
            zone = dns.resolver.zone_for_name(exp.name, resolver=res).to_text(omit_final_dot=True)
        except dns.exception.DNSException as exc:
            raise DnsQueryError(f"cannot find the zone of {exp.name}: {exc}") from None
        groups.setdefault(zone, []).append(exp)
    deadline = time.monotonic() + timeout
    merged = PropagationReport([])
    for zone, group in sorted(groups.items()):
        ns = authoritative_servers(zone, resolver=resolver, port=resolver_port)
        left = max(deadline - time.monotonic(), interval)
        try:
            report = wait_for_propagation(group, ns, timeout=left, interval=interval, port=port)
        except PropagationTimeout as exc:
            lagging: PropagationReport = exc.report  # type: ignore[assignment]
            merged.results += lagging.results
            raise PropagationTimeout(merged, f"zone {zone}: {exc}") from None
        merged.results += report.results
        merged.rounds += report.rounds
    merged.seconds = timeout - max(deadline - time.monotonic(), 0)
    return merged
