"""Ask one name server directly (no recursion) for one RRset; shared by the reader and the checker."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from .errors import DnsQueryError
from .rdata import canonical_from_rdata

__all__ = ["Answer", "query_rrset"]


@dataclass(frozen=True)
class Answer:
    """What one server said about ``name``/``rtype``.

    ``exists`` is False for NXDOMAIN. ``cname`` holds the canonical CNAME target when the server
    answered a CNAME instead of the asked type. ``soa_owner`` is the zone apex from the authority
    section (NODATA/NXDOMAIN) or from the answer when an SOA was asked.
    """

    server: str
    name: str
    rtype: str
    values: tuple[str, ...]
    ttl: int | None
    exists: bool
    cname: str | None = None
    soa_owner: str | None = None


def query_rrset(server: str, name: str, rtype: str, *, port: int = 53, timeout: float = 3.0) -> Answer:
    """Query ``server`` for ``name``/``rtype`` (UDP, TCP on truncation) and return its answer.

    Raises DnsQueryError on timeout, network error, REFUSED, SERVFAIL or any other error rcode,
    naming the server, so a caller can report exactly who failed.
    """
    qname = dns.name.from_text(name)
    qtype = dns.rdatatype.from_text(rtype)
    request = dns.message.make_query(qname, qtype, use_edns=0, payload=1232)
    request.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(request, server, timeout=timeout, port=port)
    except (OSError, dns.exception.DNSException) as exc:
        why = f"{exc.__class__.__name__} {exc}"
        raise DnsQueryError(f"{server}: no answer for {name} {rtype}: {why}") from None
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise DnsQueryError(
            f"{server}: {dns.rcode.to_text(rcode)} for {name} {rtype} (is the zone served by this server?)"
        )
    soa_owner = None
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            soa_owner = rrset.name.to_text(omit_final_dot=True).lower()
    values: tuple[str, ...] = ()
    ttl = None
    cname = None
    for rrset in response.answer:
        if rrset.name != qname:
            continue
        if rrset.rdtype == qtype:
            values = tuple(sorted(canonical_from_rdata(r) for r in rrset))
            ttl = rrset.ttl
            if qtype == dns.rdatatype.SOA:
                soa_owner = rrset.name.to_text(omit_final_dot=True).lower()
        elif rrset.rdtype == dns.rdatatype.CNAME:
            cname = canonical_from_rdata(rrset[0])
    return Answer(
        server=server, name=name, rtype=rtype, values=values, ttl=ttl,
        exists=rcode == dns.rcode.NOERROR, cname=cname, soa_owner=soa_owner,
    )
