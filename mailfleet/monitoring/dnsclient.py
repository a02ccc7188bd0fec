"""The one DNS door of the monitoring package: every lookup goes through the project's own
recursive resolver (never a public one), with a bounded number of queries in flight, each
question asked once per client.

An answer is parsed down to its answer section unless the caller asks for the authority section
(a referral's NS records live there): the negative answers' SOA and the EDNS record were a third of
the parsing, and parsing DNS messages was half of a doctor run's CPU.

Queries to one server share one UDP socket while any is in flight (told apart by their id and
question), and each query's wire form is built once, by hand, for both of its tries: a sweep or a
doctor run over a thousand domains sends tens of thousands of queries, and a socket, a transport and
a dnspython message per query were most of its CPU."""

from __future__ import annotations

import asyncio
import random
import re
import struct
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

_PAYLOAD = 1232  # EDNS buffer size: no fragmented UDP answers (DNS flag day 2020)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_*.-]+")


class DnsUnavailable(Exception):  # noqa: N818 - reads as a condition, like dns.resolver.NoAnswer
    """The lookup could not be answered (timeout, SERVFAIL, refused): the result is unknown."""


def question_wire(name: str, rdtype: str) -> bytes:
    """The question section for ``name``/``rdtype`` (class IN)."""
    labels = name.rstrip(".").encode("ascii", "replace").split(b".")
    if len(name) <= 253 and all(0 < len(label) < 64 for label in labels) and _PLAIN_NAME.fullmatch(name):
        qname = b"".join(bytes((len(label),)) + label for label in labels) + b"\0"
    else:  # escapes, or anything unusual: dnspython's own rules
        qname = dns.name.from_text(name).to_wire() or b""
    return qname + struct.pack("!HH", dns.rdatatype.from_text(rdtype), dns.rdataclass.IN)


def query_wire(qid: int, question: bytes, recursion: bool, dnssec: bool = False) -> bytes:
    """A whole query: header, question, an EDNS0 OPT record (DO with ``dnssec``); recursion asked
    of a resolver with checking disabled (CD: a zone whose DNSSEC chain is broken is still read,
    and the DNSSEC check names the break, instead of every check seeing the resolver's SERVFAIL)."""
    flags = (dns.flags.RD | dns.flags.CD) if recursion else 0
    opt = b"\0" + struct.pack("!HHIH", dns.rdatatype.OPT, _PAYLOAD, 0x8000 if dnssec else 0, 0)
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1) + question + opt


def parse_answer(data: bytes, authority: bool = False) -> dns.message.Message:
    """A response with its question and answer sections (and the authority section with
    ``authority``); the rest is not parsed. The header's section counts are set to what is parsed,
    and what follows is ignored, so the message reads as if those sections were empty (the
    additional section's EDNS record with them: its extended RCODE bits are never set in an answer
    to a query that asked EDNS version 0)."""
    cut = data[:10] + b"\0\0" if authority else data[:8] + b"\0\0\0\0"
    return dns.message.from_wire(cut + data[len(cut):], ignore_trailing=True)


class _Waiter:
    __slots__ = ("answer", "question")

    def __init__(self, answer: asyncio.Future[bytes], question: bytes) -> None:
        self.answer, self.question = answer, question


class _Udp(asyncio.DatagramProtocol):
    """One connected UDP socket to one server; an answer goes to the query in flight with its id
    and question (anything else is dropped, as a stray or spoofed datagram)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, _Waiter] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        waiter = self.waiting.get(int.from_bytes(data[:2], "big")) if len(data) >= 12 else None
        if waiter is None or waiter.answer.done():
            return
        end = 12 + len(waiter.question)
        if data[4:6] == b"\0\1" and data[12:end].lower() == waiter.question.lower():
            waiter.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable on the connected socket
        self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("socket closed"))

    def _fail(self, exc: Exception) -> None:
        for waiter in self.waiting.values():
            if not waiter.answer.done():
                waiter.answer.set_exception(exc)

    def new_id(self) -> int:
        qid = random.randrange(65536)  # noqa: S311 - with the question, told apart; not a secret
        while qid in self.waiting:
            qid = random.randrange(65536)  # noqa: S311
        return qid


class _Socket:
    """A server's socket while queries to it are in flight (closed when the last one is done)."""

    __slots__ = ("opening", "users")

    def __init__(self, opening: asyncio.Future[tuple[asyncio.DatagramTransport, _Udp]]) -> None:
        self.opening, self.users = opening, 0


def _close(opening: asyncio.Future[tuple[asyncio.DatagramTransport, _Udp]]) -> None:
    if opening.done():
        if not opening.cancelled() and opening.exception() is None:
            opening.result()[0].close()
    else:
        opening.add_done_callback(_close)


def _expire(answer: asyncio.Future[bytes]) -> None:
    if not answer.done():
        answer.set_exception(dns.exception.Timeout())


class DnsClient:
    """Async lookups through one resolver. A missing name or type is an empty answer; anything
    else that prevents an answer raises DnsUnavailable. One instance per sweep: with ``cache``
    each question is sent once for the instance's life, and every check (and every domain, and
    the propagation panel when it holds the same resolver) that asks it shares the answer. A
    query that times out is sent once more before it counts as unanswered (one lost UDP packet
    is not a finding); an answer to its first copy that arrives during the second try counts."""

    def __init__(self, resolver: str, port: int = 53, timeout: float = 3.0,
                 semaphore: asyncio.Semaphore | None = None, cache: bool = True) -> None:
        self._server, self._port = resolver, port
        self._timeout = timeout
        self._semaphore = semaphore or asyncio.Semaphore(256)
        self._answers: dict[tuple[Any, ...], asyncio.Future[Any]] | None = {} if cache else None
        self._sockets: dict[tuple[str, int], _Socket] = {}
        # authoritative servers of one zone give the same bytes (but the id) for the same question:
        # parsed once
        self._parsed: dict[tuple[bool, bytes], dns.message.Message] = {}
        self.sent = 0  # queries sent (a second try and a TCP retry count too): what the servers see

    async def _shared(self, key: tuple[Any, ...], make: Callable[[], Awaitable[Any]]) -> Any:
        if self._answers is None:
            return await make()
        if key not in self._answers:
            self._answers[key] = asyncio.ensure_future(make())
        return await asyncio.shield(self._answers[key])

    async def _exchange(self, name: str, rdtype: str, server: str, port: int, recursion: bool,
                        dnssec: bool = False, authority: bool = False) -> dns.message.Message:
        """One question to one server, its query built once: one query in flight per slot; a
        timed-out query is sent once more, a truncated answer fetched again over TCP. The answer
        is parsed as :func:`parse_answer` does."""
        question = question_wire(name, rdtype)
        key = (server, port)
        entry = self._sockets.get(key)
        if entry is None:
            loop = asyncio.get_running_loop()
            entry = self._sockets[key] = _Socket(asyncio.ensure_future(
                loop.create_datagram_endpoint(_Udp, remote_addr=key)))
        entry.users += 1
        try:
            opening = entry.opening
            transport, udp = opening.result() if opening.done() else await asyncio.shield(opening)
            qid = udp.new_id()
            wire = query_wire(qid, question, recursion, dnssec)
            try:
                data = await self._tries(transport, udp, qid, question, wire)
            finally:
                udp.waiting.pop(qid, None)
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._sockets[key]
                _close(entry.opening)
        same = (authority, data[2:])
        response = self._parsed.get(same) if not recursion else None
        if response is None:
            response = parse_answer(data, authority)
            if not recursion:
                self._parsed[same] = response
        if response.flags & dns.flags.TC:
            self.sent += 1
            async with self._semaphore:
                response = await dns.asyncquery.tcp(dns.message.from_wire(wire), server,
                                                    timeout=self._timeout, port=port)
        return response

    async def _tries(self, transport: asyncio.DatagramTransport, udp: _Udp, qid: int, question: bytes,
                     wire: bytes) -> bytes:
        """Send ``wire`` and wait for its answer, twice at most (the same id: an answer to the
        first copy that comes late still counts)."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            async with self._semaphore:
                answer: asyncio.Future[bytes] = loop.create_future()
                udp.waiting[qid] = _Waiter(answer, question)
                transport.sendto(wire)
                self.sent += 1
                # an answer read in the same turn of a busy loop as the timer's expiry wins: the
                # loop runs socket reads before due timers
                timer = loop.call_later(self._timeout, _expire, answer)
                try:
                    return await answer
                except dns.exception.Timeout:
                    if attempt == 2:
                        raise
                finally:
                    timer.cancel()
        raise AssertionError("unreachable")


    async def rdatas(self, name: str, rdtype: str) -> list[Any]:
        """Records of one type at one name (following aliases); [] for NXDOMAIN or no data."""
        response = await self.ask(name, rdtype, self._server, self._port, recursion=True)
        owner = response.question[0].name if response.question else dns.name.from_text(name)
        rrset = answer_rrset(response, owner, dns.rdatatype.from_text(rdtype))
        return list(rrset) if rrset is not None else []

    async def signed(self, name: str, rdtype: str) -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
        """The records of one type at one name and their signatures (RRSIG), as the zone serves
        them: DNSSEC records asked for (DO) with checking disabled (CD), so a zone that fails
        validation is still read rather than answered SERVFAIL."""
        async def query() -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
            try:
                response = await self._exchange(name, rdtype, self._server, self._port, recursion=True,
                                                dnssec=True)
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
                  recursion: bool = False, authority: bool = False) -> dns.message.Message:
        """One query straight to one server (an authoritative one: recursion off; a resolver: on);
        errors name the server. NXDOMAIN is an answer, not an error. The answer section is read,
        and the authority section only with ``authority``."""
        shown = name.rstrip(".")
        where = "" if (server, port, recursion) == (self._server, self._port, True) else f" at {server}"

        async def query() -> dns.message.Message:
            try:
                response = await self._exchange(name, rdtype, server, port, recursion,
                                                authority=authority)
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
        return await self._shared(("ask", shown.lower(), rdtype, server, port, recursion, authority), query)

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
        response = await self.ask(zone, "NS", server, port, authority=True)
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
