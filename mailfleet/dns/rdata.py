"""Record values in one canonical text form, so values from BIND, Cloudflare and variables compare.

Canonical form: dnspython's presentation of the rdata relative to the root, lower-cased for the
types whose rdata holds names or hex (MX, SRV, CNAME, TLSA, ...). TXT is the exception: its
canonical value is the joined character strings without quotes, because how a provider splits a
long TXT value into 255-byte strings carries no meaning.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import idna
from dns.rdtypes.ANY.TXT import TXT

from .errors import DnsInputError

__all__ = [
    "SUPPORTED_TYPES",
    "Record",
    "canonical_from_rdata",
    "canonical_value",
    "normalize_name",
    "txt_wire_text",
]

SUPPORTED_TYPES = frozenset({"A", "AAAA", "CNAME", "MX", "SRV", "TLSA", "TXT", "CAA"})
_TXT_CHUNK = 255
_SERVICE_LABEL = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,62}$")


def normalize_name(name: str) -> str:
    """Return an absolute owner name without the trailing dot, lower-case IDNA.

    Labels with '_' (``_dmarc``, ``_25._tcp``, ``dkim._domainkey``) are allowed here, unlike in host
    names; every other label must be a valid IDNA host label.
    """
    raw = name.strip().rstrip(".").lower() if isinstance(name, str) else ""
    if not raw:
        raise DnsInputError(f"record name {name!r} is empty")
    labels = []
    for label in raw.split("."):
        if "_" in label:
            if not _SERVICE_LABEL.match(label):
                raise DnsInputError(f"record name {name!r} has an invalid label {label!r}")
            labels.append(label)
            continue
        try:
            labels.append(_ascii_label(label))
        except idna.IDNAError as exc:
            raise DnsInputError(f"record name {name!r} has an invalid label {label!r}: {exc}") from None
    result = ".".join(labels)
    if len(labels) < 2 or len(result) > 253 or labels[-1].isdigit() or "_" in labels[-1]:
        raise DnsInputError(f"record name {name!r} is not a fully qualified domain name")
    return result


@functools.lru_cache(maxsize=4096)
def _ascii_label(label: str) -> str:
    # IDNA checks are costly and the same labels (the zone's, ``mail``, ``autoconfig``) recur
    # in every record of every domain
    return idna.encode(label, uts46=True).decode("ascii")


def _txt_join(rdata: TXT) -> str:
    return b"".join(rdata.strings).decode("utf-8", errors="surrogateescape")


def canonical_from_rdata(rdata: dns.rdata.Rdata) -> str:
    """Canonical text of an rdata parsed by dnspython (from a DNS answer or from text)."""
    if isinstance(rdata, TXT):
        return _txt_join(rdata)
    text = rdata.to_text(origin=dns.name.root, relativize=False)
    if rdata.rdtype == dns.rdatatype.TLSA:
        # dnspython breaks long hex into 128-character chunks; the certificate data is one token.
        head = text.split(None, 3)
        text = " ".join(head[:3] + ["".join(head[3].split())]) if len(head) == 4 else text
    if rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.CAA):
        return text
    return text.lower()


def canonical_value(rtype: str, value: str) -> str:
    """Validate ``value`` for ``rtype`` and return its canonical text; raise DnsInputError if bad.

    TXT values are taken literally (no quotes needed). Names inside MX/SRV/CNAME values are
    treated as absolute whether or not they end with a dot. Cached: every domain of a server
    repeats its MX, SRV and CNAME values.
    """
    if not isinstance(value, str) or not isinstance(rtype, str):
        raise DnsInputError(f"{rtype} value {value!r} is not text")
    return _canonical_value(rtype.upper(), value)


@functools.lru_cache(maxsize=4096)
def _canonical_value(rtype: str, value: str) -> str:
    if rtype not in SUPPORTED_TYPES:
        raise DnsInputError(f"record type {rtype!r} is not supported (use one of {sorted(SUPPORTED_TYPES)})")
    if not isinstance(value, str) or not value.strip():
        raise DnsInputError(f"{rtype} value is empty")
    if rtype == "TXT":
        if not value.isascii() or not value.isprintable():
            raise DnsInputError(f"TXT value {value[:40]!r}... must be printable ASCII")
        if len(value) > 4000:
            raise DnsInputError("TXT value is longer than 4000 characters")
        return value
    try:
        if rtype in ("A", "AAAA"):
            address = ipaddress.ip_address(value.strip())
            if (rtype == "A") != (address.version == 4):
                raise DnsInputError(f"{value!r} is not an IPv{4 if rtype == 'A' else 6} address")
            return str(address)
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value.strip(), origin=dns.name.root
        )
    except (dns.exception.DNSException, ValueError) as exc:
        if isinstance(exc, DnsInputError):
            raise
        raise DnsInputError(f"{rtype} value {value!r} is invalid: {exc}") from None
    return canonical_from_rdata(rdata)


def txt_wire_text(value: str) -> str:
    """Presentation text of a TXT value for an RFC 2136 update: quoted 255-byte strings."""
    chunks = [value[i : i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


@dataclass(frozen=True, order=True)
class Record:
    """One resource record: owner name (absolute, no trailing dot), type, canonical value, TTL."""

    name: str
    rtype: str
    value: str
    ttl: int = 600

    @classmethod
    def make(cls, name: str, rtype: str, value: str, ttl: int = 600) -> Record:
        rtype = str(rtype).upper()
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 30 <= ttl <= 604800:
            raise DnsInputError(f"TTL {ttl!r} of {name} {rtype} must be an integer from 30 to 604800")
        return cls(normalize_name(name), rtype, canonical_value(rtype, value), ttl)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the record regardless of TTL."""
        return (self.name, self.rtype, self.value)

    def wire_text(self) -> str:
        """Value as an RFC 2136 / zone file presentation string."""
        return txt_wire_text(self.value) if self.rtype == "TXT" else self.value
