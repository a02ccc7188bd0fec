"""The one DNS door of the monitoring package: every lookup goes through the project's own
recursive resolver (never a public one), with a bounded number of queries in flight, each
question asked once per client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsUnavailable(Exception):  # noqa: N818 - reads as a condition, like dns.resolver.NoAnswer
    """The lookup could not be answered (timeout, SERVFAIL, refused): the result is unknown."""


class DnsClient:
    """Async lookups through one resolver. A missing name or type is an empty answer; anything
    else that prevents an answer raises DnsUnavailable. One instance per sweep: with ``cache``
    each question is sent once for the instance's life, and every check (and every domain, and
    the propagation panel when it holds the same resolver) that asks it shares the answer. A
    query that times out is sent once more before it counts as unanswered (one lost UDP packet
    is not a finding)."""

    def __init__(self, resolver: str, port: int = 53, timeout: float = 3.0,
                 semaphore: asyncio.Semaphore | None = None, cache: bool = True) -> None:
        self._server, self._port = resolver, port
        self._timeout = timeout
        self._semaphore = semaphore or asyncio.Semaphore(256)
        self._answers: dict[tuple[Any, ...], asyncio.Future[Any]] | None = {} if cache else None

    async def _shared(self, key: tuple[Any, ...], make: Callable[[], Awaitable[Any]]) -> Any:
        if self._answers is None:
            return await make()
        if key not in self._answers:
            self._answers[key] = asyncio.ensure_future(make())
        return await asyncio.shield(self._answers[key])

    async def _exchange(self, query: dns.message.Message, server: str, port: int) -> dns.message.Message:
        """One query in flight per slot; a timed-out query is sent once more, a truncated answer
        fetched again over TCP."""
        for attempt in (1, 2):
            async with self._semaphore:
                try:
                    response = await dns.asyncquery.udp(query, server, timeout=self._timeout, port=port)
                    if response.flags & dns.flags.TC:
                        response = await dns.asyncquery.tcp(query, server, timeout=self._timeout, port=port)
                    return response
                except dns.exception.Timeout:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def rdatas(self, name: str, rdtype: str) -> list[Any]:
        """Records of one type at one name (following aliases); [] for NXDOMAIN or no data."""
        response = await self.ask(name, rdtype, self._server, self._port, recursion=True)
        rrset = answer_rrset(response, dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
        return list(rrset) if rrset is not None else []

    async def signed(self, name: str, rdtype: str) -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
        """The records of one type at one name and their signatures (RRSIG), as the zone serves
        them: DNSSEC records asked for (DO) with checking disabled (CD), so a zone that fails
        validation is still read rather than answered SERVFAIL."""
        async def query() -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
            message = dns.message.make_query(name, rdtype, want_dnssec=True, payload=1232)
            message.flags |= dns.flags.CD
            try:
                response = await self._exchange(message, self._server, self._port)
            except (OSError, dns.exception.DNSException) as exc:
                raise DnsUnavailable(f"{rdtype} {name} (DNSSEC): {exc}") from None
            if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise DnsUnavailable(f"{rdtype} {name} (DNSSEC): resolver failed "
                                     f"{dns.rcode.to_text(response.rcode())}")
            owner, wanted = dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
            records = response.get_rrset(response.answer, owner, dns.rdataclass.IN, wanted)
            sigs = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, wanted)
            return records, sigs
        return await self._shared(("signed", name.lower(), rdtype), query)

    async def addresses(self, name: str, rdtype: str) -> list[str]:
        return sorted(r.address for r in await self.rdatas(name, rdtype))

    async def texts(self, name: str) -> list[str]:
        """TXT records, each joined from its character strings."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in await self.rdatas(name, "TXT")]

    async def zone_of(self, name: str) -> str:
        """The zone (apex) a name lives in, found by walking up until an SOA answers."""
        labels = dns.name.from_text(name)
        while len(labels) > 1:
            response = await self.ask(labels.to_text(), "SOA", self._server, self._port, recursion=True)
            if any(r.rdtype == dns.rdatatype.SOA and r.name == labels for r in response.answer):
                return labels.to_text(omit_final_dot=True)
            labels = labels.parent()
        raise DnsUnavailable(f"no zone found above {name}")

    async def ask(self, name: str, rdtype: str, server: str, port: int = 53,
                  recursion: bool = False) -> dns.message.Message:
        """One query straight to one server (an authoritative one: recursion off; a resolver: on);
        errors name the server. NXDOMAIN is an answer, not an error."""
        shown = name.rstrip(".")
        where = "" if (server, port, recursion) == (self._server, self._port, True) else f" at {server}"

        async def query() -> dns.message.Message:
            message = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
            if not recursion:
                message.flags &= ~dns.flags.RD
            else:
                # Checking disabled: a zone whose DNSSEC chain is broken is still read, and the DNSSEC
                # check names the break, instead of every check seeing the resolver's SERVFAIL.
                message.flags |= dns.flags.CD
            try:
                response = await self._exchange(message, server, port)
            except dns.exception.Timeout:
                raise DnsUnavailable(f"{rdtype} {shown}{where}: no answer within {self._timeout:g} s "
                                     "(asked twice)") from None
            except (OSError, dns.exception.DNSException) as exc:
                raise DnsUnavailable(f"{rdtype} {shown}{where}: {exc}") from None
            if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                failed = "resolver failed" if where == "" else "answered"
                rcode = dns.rcode.to_text(response.rcode())
                raise DnsUnavailable(f"{rdtype} {shown}{where}: {failed} {rcode}")
            return response
        return await self._shared(("ask", shown.lower(), rdtype, server, port, recursion), query)

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


def answer_rrset(response: dns.message.Message, name: dns.name.Name,
                 rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
    """The records of ``rdtype`` at ``name`` in an answer, following the aliases (CNAME) the
    resolver put before them."""
    for _ in range(16):
        alias = None
        for rrset in response.answer:
            if rrset.rdtype in (rdtype, dns.rdatatype.CNAME) and rrset.name == name:
                if rrset.rdtype == rdtype:
                    return rrset
                alias = rrset[0].target
        if alias is None:
            return None
        name = alias
    return None
