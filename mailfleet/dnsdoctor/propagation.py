"""Propagation of a domain's records: per record, what every authoritative server and every resolver
of a panel answers, side by side, with TTLs.

"Propagated" means every authoritative server serves what the newest one (highest SOA serial)
serves, and every resolver of the panel has it too; a resolver still holding an old answer lets
it go within that answer's TTL, so ``settles_in`` says how long to wait at most.

Authoritative servers that gave the same SOA serial serve the same version of the zone (a
secondary copies the primary by serial), so each record is asked of one of them and its answer
stands for the others (``ServerAnswer.asked_at`` names the server that gave it); a server with
another serial is asked itself. ``ask_every_server`` turns that off, for DNS hosts whose serial
does not follow their data (Route 53 keeps serial 1). A change landing between the serial
question and the record question can be missed by one report; the next re-check sees the
serials differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdatatype

from mailfleet.dns.rdata import Record, canonical_from_rdata
from mailfleet.monitoring.dnsclient import DnsClient, DnsUnavailable

__all__ = ["NameServer", "RecordPropagation", "ServerAnswer", "propagation"]


@dataclass(frozen=True)
class NameServer:
    label: str  # ns1.example.com, or "resolver 192.0.2.53"
    address: str
    role: str  # authoritative | resolver


@dataclass(frozen=True)
class ServerAnswer:
    server: NameServer
    values: tuple[str, ...]
    ttl: int | None
    error: str | None
    agrees: bool  # same as the newest authoritative answer
    expected: bool  # holds every value mailfleet publishes
    asked_at: str = ""  # "label/address" of the server (same serial) that gave this answer; "": this one

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server.label, "address": self.server.address, "role": self.server.role,
                "values": list(self.values), "ttl": self.ttl, "error": self.error,
                "agrees": self.agrees, "expected": self.expected, "asked_at": self.asked_at}


@dataclass(frozen=True)
class RecordPropagation:
    name: str
    rtype: str
    expected: tuple[str, ...]
    answers: tuple[ServerAnswer, ...]

    @property
    def agreeing(self) -> int:
        return sum(a.agrees for a in self.answers)

    @property
    def complete(self) -> bool:
        return all(a.agrees for a in self.answers)

    @property
    def stale(self) -> bool:
        """Every authoritative server serves the published records, a resolver an older answer."""
        own = [a for a in self.answers if a.server.role == "authoritative"]
        cached = [a for a in self.answers if a.server.role == "resolver"]
        return (bool(own) and all(a.agrees and a.expected for a in own)
                and any(not a.agrees and a.error is None for a in cached))

    @property
    def unanswered(self) -> bool:
        """A server gave no answer (timed out twice, refused): what it serves is unknown."""
        return any(a.error is not None for a in self.answers)

    @property
    def settles_in(self) -> int | None:
        """Seconds until every resolver has let go of an older answer (None: an authoritative
        server lags or failed, which no TTL bounds)."""
        behind = [a for a in self.answers if not a.agrees]
        if any(a.server.role == "authoritative" or a.ttl is None for a in behind):
            return None if behind else 0
        return max((a.ttl or 0 for a in behind), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rtype, "expected": list(self.expected),
                "agreeing": self.agreeing, "total": len(self.answers), "complete": self.complete,
                "settles_in": self.settles_in, "answers": [a.to_dict() for a in self.answers]}


async def _answer(client: DnsClient, server: NameServer, name: str, rtype: str,
                  port: int) -> tuple[tuple[str, ...], int | None, str | None]:
    try:
        resolver = server.role == "resolver"
        response = await client.ask(name, rtype, server.address, 53 if resolver else port, recursion=resolver)
    except DnsUnavailable as exc:
        return (), None, str(exc)
    qtype = dns.rdatatype.from_text(rtype)
    # the question the server echoes is the name asked (compared as names: case does not count)
    owner = response.question[0].name if response.question else dns.name.from_text(name)
    for rrset in response.answer:
        if rrset.rdtype == qtype and rrset.name == owner:
            return tuple(sorted(canonical_from_rdata(r) for r in rrset)), rrset.ttl, None
    return (), None, None


def _askers(authoritative: Sequence[NameServer], serials: dict[str, int],
            ask_every_server: bool) -> dict[NameServer, NameServer]:
    """Each authoritative server -> the server asked on its behalf: the first one with the same
    serial (itself when it is the first, its serial is unknown, or every server is asked)."""
    first: dict[int, NameServer] = {}
    out = {}
    for server in authoritative:
        serial = serials.get(server.address)
        out[server] = server if ask_every_server or serial is None else first.setdefault(serial, server)
    return out


async def propagation(client: DnsClient, records: Sequence[Record], authoritative: Sequence[NameServer],
                      serials: dict[str, int], resolvers: Sequence[NameServer] = (),
                      port: int = 53, ask_every_server: bool = False) -> list[RecordPropagation]:
    """Every server's answer for every (name, type) of ``records``; ``serials`` (address -> SOA
    serial) picks the newest authoritative server as the reference, and which servers are asked."""
    groups: dict[tuple[str, str], list[str]] = {}
    for record in records:
        groups.setdefault((record.name, record.rtype), []).append(record.value)
    servers = [*authoritative, *resolvers]
    askers = {**_askers(authoritative, serials, ask_every_server), **{s: s for s in resolvers}}
    asked = list(dict.fromkeys(askers[s] for s in servers))
    newest = max(authoritative, key=lambda s: serials.get(s.address, -1)) if authoritative else None
    keys = sorted(groups)
    raw_all = await asyncio.gather(*(asyncio.gather(*(_answer(client, s, name, rtype, port) for s in asked))
                                     for name, rtype in keys))
    out = []
    for (name, rtype), raw in zip(keys, raw_all, strict=True):
        expected = groups[(name, rtype)]
        got = dict(zip(asked, raw, strict=True))
        reference = got[askers[newest]][0] if newest is not None else tuple(sorted(expected))
        answers = []
        for server in servers:
            asker = askers[server]
            values, ttl, err = got[asker]
            answers.append(ServerAnswer(server, values, ttl, err, err is None and values == reference,
                                        err is None and set(expected) <= set(values),
                                        "" if asker is server else f"{asker.label}/{asker.address}"))
        out.append(RecordPropagation(name, rtype, tuple(sorted(expected)), tuple(answers)))
    return out
