"""DNSSEC of a zone: is it signed, does its parent hold a DS record that names one of its keys, and
do its signatures validate with that key.

The chain is checked here, with the zone's own records read through the project's resolver with
checking disabled (a zone that fails validation is read, not answered SERVFAIL), so the verdict
does not depend on whether that resolver validates. The parent's own signature over the DS set is
the parent's business (and the registry's); a validating resolver checks it.
"""

from __future__ import annotations

from enum import Enum

import dns.dnssec
import dns.name
import dns.rdata
import dns.rrset
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from .dnsclient import DnsClient
from .outcome import Outcome, error, ok, warning
from .results import Status

__all__ = ["DS_DIGEST", "Security", "dnssec_chain", "ds_records", "security"]

DS_DIGEST = "SHA256"  # the digest every registrar takes (RFC 8624: DS with SHA-256 is a MUST)
_SEP = 0x0001  # the DNSKEY flag of a key-signing key (the one the parent's DS names)


def _entry_keys(keys: dns.rrset.RRset) -> list[DNSKEY]:
    """The keys the parent's DS should name: the key-signing keys, or every key of a zone that
    signs with one key only."""
    return [k for k in keys if k.flags & _SEP] or list(keys)


def ds_records(zone: str, keys: dns.rrset.RRset) -> list[str]:
    """The DS records to give the registrar (key tag, algorithm, digest type, digest), one per
    key-signing key."""
    owner = dns.name.from_text(zone)
    return [dns.dnssec.make_ds(owner, k, DS_DIGEST).to_text() for k in _entry_keys(keys)]


def _names(zone: str, ds: dns.rdata.Rdata, key: DNSKEY) -> bool:
    """Whether a DS record of the parent names the key (same tag, algorithm and digest)."""
    return (isinstance(ds, DS) and dns.dnssec.key_id(key) == ds.key_tag and key.algorithm == ds.algorithm
            and dns.dnssec.make_ds(dns.name.from_text(zone), key, ds.digest_type, validating=True) == ds)


def _matching(zone: str, keys: dns.rrset.RRset, ds_set: dns.rrset.RRset) -> list[DNSKEY]:
    """The zone's keys that a DS record of the parent names."""
    return [k for k in keys for ds in ds_set if _names(zone, ds, k)]


def _requested(zone: str, keys: dns.rrset.RRset, cds: dns.rrset.RRset | None) -> list[DNSKEY] | None:
    """The keys the zone asks its parent to hold a DS for, by its CDS records (RFC 7344: the
    signer publishes them as a key rollover goes on), or None when it publishes none, or only
    RFC 8078's request to remove every DS."""
    asked = [dns.rdata.from_text("IN", "DS", c.to_text()) for c in (cds or ()) if c.algorithm != 0]
    if not asked:
        return None
    return [k for k in keys if any(_names(zone, ds, k) for ds in asked)]


def _rollover(zone: str, keys: dns.rrset.RRset, ds_set: dns.rrset.RRset,
              cds: dns.rrset.RRset | None) -> Outcome | None:
    """A key-signing key rollover half done at the registrar: a key the zone asks a DS for (by
    CDS, else each key-signing key) the parent has none for (the successor), or a DS naming a
    key the zone no longer asks for or publishes (the predecessor). Validation holds meanwhile
    through the other DS."""
    requested = _requested(zone, keys, cds)
    new = [k for k in (_entry_keys(keys) if requested is None else requested)
           if not any(_names(zone, ds, k) for ds in ds_set)]
    if new:
        owner = dns.name.from_text(zone)
        tags = ", ".join(str(dns.dnssec.key_id(k)) for k in new)
        return warning(f"DNSKEY {zone}: the zone publishes a new key-signing key (tag {tags}) the parent "
                       "has no DS for: a key rollover waits for the registrar; add its DS next to the "
                       "current one",
                       "; ".join(dns.dnssec.make_ds(owner, k, DS_DIGEST).to_text() for k in new),
                       code="dnssec.ds-rollover")
    current = list(keys) if requested is None else requested
    stale = [ds for ds in ds_set if not any(_names(zone, ds, k) for k in current)]
    if stale:
        tags = ", ".join(str(ds.key_tag) for ds in stale)
        return warning(f"DS {zone}: the parent still holds a DS (key tag {tags}) for a key the zone has "
                       "retired: remove it at the registrar",
                       "; ".join(ds.to_text() for ds in stale), code="dnssec.ds-stale")
    return None


class Security(Enum):
    """What a validating resolver makes of a zone (RFC 4035 4.3)."""

    UNSIGNED = "unsigned"  # no keys: DNSSEC off
    INSECURE = "insecure"  # signed, but the parent has no DS: treated as unsigned
    SECURE = "secure"  # the parent's DS names a key and the signatures validate
    BOGUS = "bogus"  # validation fails: every answer is refused
    UNKNOWN = "unknown"  # the chain could not be read


_INSECURE_CODES = frozenset({"dnssec.ds-missing"})
_BOGUS_CODES = frozenset({"dnssec.ds-mismatch", "dnssec.bogus"})


def security(chain: Outcome) -> Security:
    """The zone's state read from ``dnssec_chain``'s outcome. A rollover half done at the
    registrar still validates; a signed zone's outcome always carries its DS records as value, an
    unsigned one's none."""
    if chain.status is Status.UNKNOWN:
        return Security.UNKNOWN
    if chain.code in _BOGUS_CODES:
        return Security.BOGUS
    if chain.code in _INSECURE_CODES:
        return Security.INSECURE
    return Security.SECURE if chain.value else Security.UNSIGNED


async def dnssec_chain(dns_client: DnsClient, zone: str, dns_port: int = 53) -> Outcome:
    """Unsigned without a DS is fine (DNSSEC off); signed without a DS is a step left at the
    registrar; a DS naming no key of the zone, or signatures that do not validate, make every
    validating resolver refuse the domain's answers (mail to it stops). ``security`` reads the
    zone's state from the outcome."""
    keys, key_sigs = await dns_client.signed(zone, "DNSKEY")
    ds_set, _ = await dns_client.signed(zone, "DS")
    if keys is None:
        if ds_set:
            return error(f"DS {zone}: the parent publishes DS records, but the zone is not signed: "
                         "validating resolvers refuse every answer (remove the DS at the registrar, or sign "
                         "the zone)",
                         "; ".join(d.to_text() for d in ds_set), code="dnssec.ds-mismatch")
        return ok(f"{zone} is not signed (DNSSEC off)")
    wanted = "; ".join(ds_records(zone, keys))
    if not ds_set:
        return warning(f"DNSKEY {zone}: the zone is signed, but its parent has no DS record, so resolvers "
                       "treat it as unsigned (DANE does not apply); give the registrar the DS record",
                       wanted, code="dnssec.ds-missing")
    entry = _matching(zone, keys, ds_set)
    if not entry:
        tags = ", ".join(str(d.key_tag) for d in ds_set)
        return error(f"DS {zone}: the parent's DS (key tag {tags}) names no key of the zone: validating "
                     "resolvers refuse every answer; replace it at the registrar", wanted,
                     code="dnssec.ds-mismatch")
    owner = dns.name.from_text(zone)
    soa, soa_sigs = await dns_client.signed(zone, "SOA")
    try:
        if key_sigs is None or soa is None or soa_sigs is None:
            raise dns.dnssec.ValidationFailure("signatures missing")
        trusted = dns.rrset.from_rdata_list(owner, keys.ttl, entry)
        dns.dnssec.validate(keys, key_sigs, {owner: trusted})
        dns.dnssec.validate(soa, soa_sigs, {owner: keys})
    except dns.dnssec.ValidationFailure as exc:
        return error(f"DNSKEY/SOA {zone}: the signatures do not validate ({exc}): validating resolvers "
                     "refuse every answer", wanted, code="dnssec.bogus")
    tags = ", ".join(str(dns.dnssec.key_id(k)) for k in entry)
    cds, _ = await dns_client.signed(zone, "CDS")
    return _rollover(zone, keys, ds_set, cds) or ok(
        f"{zone} is signed; the parent's DS names key {tags} and the signatures validate", wanted)
