"""The one DNS door of the monitoring package: every lookup goes through the project's own
recursive resolver (never a public one), with a bounded number of queries in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver


class DnsUnavailable(Exception):  # noqa: N818 - reads as a condition, like dns.resolver.NoAnswer
    """The lookup could not be answered (timeout, SERVFAIL, refused): the result is unknown."""


class DnsClient:
    """Async lookups through one resolver. A missing name or type is an empty answer; anything
    else that prevents an answer raises DnsUnavailable. One instance per sweep (its cache too)."""

    def __init__(self, resolver: str, port: int = 53, timeout: float = 3.0,
                 semaphore: asyncio.Semaphore | None = None, cache: bool = True) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=False)
        self._resolver.nameservers = [resolver]
        self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.retry_servfail = False
        if cache:
            self._resolver.cache = dns.resolver.Cache()
        self._timeout = timeout
        self._semaphore = semaphore or asyncio.Semaphore(256)

    async def rdatas(self, name: str, rdtype: str) -> list[Any]:
        """Records of one type at one name; [] for NXDOMAIN or no data."""
        async with self._semaphore:
            try:
                answer = await self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return []
            except dns.resolver.NoAnswer:
                return []
            except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
                raise DnsUnavailable(f"{rdtype} {name}: no answer within {self._timeout:g} s") from None
            except dns.resolver.NoNameservers as exc:
                raise DnsUnavailable(f"{rdtype} {name}: resolver failed ({_first_error(exc)})") from None
            except dns.exception.DNSException as exc:
                raise DnsUnavailable(f"{rdtype} {name}: {exc}") from None
        return list(answer.rrset) if answer.rrset is not None else []

    async def addresses(self, name: str, rdtype: str) -> list[str]:
        return sorted(r.address for r in await self.rdatas(name, rdtype))

    async def texts(self, name: str) -> list[str]:
        """TXT records, each joined from its character strings."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in await self.rdatas(name, "TXT")]

    async def zone_of(self, name: str) -> str:
        """The zone (apex) a name lives in, found by walking up until an SOA answers."""
        labels = dns.name.from_text(name)
        while len(labels) > 1:
            async with self._semaphore:
                try:
                    answer = await self._resolver.resolve(labels, "SOA", search=False,
                                                          raise_on_no_answer=False)
                except dns.resolver.NXDOMAIN:
                    answer = None
                except dns.exception.DNSException as exc:
                    raise DnsUnavailable(f"SOA {labels}: {exc}") from None
            if answer is not None and answer.rrset is not None and answer.rrset.name == labels:
                return labels.to_text(omit_final_dot=True)
            labels = labels.parent()
        raise DnsUnavailable(f"no zone found above {name}")

    async def ask(self, name: str, rdtype: str, server: str, port: int = 53,
                  recursion: bool = False) -> dns.message.Message:
        """One query straight to one server (an authoritative one: recursion off; a resolver of a
        propagation panel: on); errors name the server. NXDOMAIN is an answer, not an error."""
        query = dns.message.make_query(name, rdtype)
        if not recursion:
            query.flags &= ~dns.flags.RD
        async with self._semaphore:
            try:
                response = await dns.asyncquery.udp(query, server, timeout=self._timeout, port=port)
            except dns.exception.Timeout:
                raise DnsUnavailable(
                    f"{rdtype} {name} at {server}: no answer within {self._timeout:g} s") from None
            except (OSError, dns.exception.DNSException) as exc:
                raise DnsUnavailable(f"{rdtype} {name} at {server}: {exc}") from None
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsUnavailable(f"{rdtype} {name} at {server}: {dns.rcode.to_text(response.rcode())}")
        return response

    async def soa_serial_at(self, zone: str, server: str, port: int = 53) -> int:
        """Ask one authoritative server directly (no recursion) for the zone's SOA serial."""
        response = await self.ask(zone, "SOA", server, port)
        if response.flags & dns.flags.AA:
            for rrset in response.answer:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return int(rrset[0].serial)
        raise DnsUnavailable(f"SOA {zone} at {server}: not authoritative (lame)")

    async def delegation_at(self, zone: str, server: str, port: int = 53) -> list[str]:
        """The NS names a parent's server gives for ``zone``: its referral, or its own answer
        when the same server is authoritative for parent and child."""
        response = await self.ask(zone, "NS", server, port)
        owner = dns.name.from_text(zone)
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.NS and rrset.name == owner:
                    return sorted({r.target.to_text(omit_final_dot=True).lower() for r in rrset})
        return []


def _first_error(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    return str(errors[0][3]) if errors and len(errors[0]) > 3 else "SERVFAIL"
