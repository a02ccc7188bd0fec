"""The DNSSEC chain check against a zone signed here (real keys and signatures, dnspython's
validation), served by a scripted resolver; and the registrar steps the DNS doctor gives."""

from __future__ import annotations

import asyncio
import time

import dns.dnssec
import dns.name
import dns.rdata
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mailfleet.dns.rdata import Record
from mailfleet.dnsdoctor.findings import CATALOGUE
from mailfleet.dnsdoctor.guidance import DnsHost, steps_for
from mailfleet.monitoring.dnsclient import DnsClient
from mailfleet.monitoring.dnssec import Security, dnssec_chain, ds_records, security
from mailfleet.monitoring.results import Status

pytestmark = pytest.mark.unit

ZONE = "acme.example.test"
OWNER = dns.name.from_text(ZONE)
ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256


class SignedZone(DnsClient):
    """A resolver that serves one zone's DNSKEY, SOA (with signatures) and its parent's DS."""

    def __init__(self, signed: bool = True, ds: list[str] | None = None) -> None:
        super().__init__("127.0.0.1")
        self.ksk_private = ec.generate_private_key(ec.SECP256R1())
        self.zsk_private = ec.generate_private_key(ec.SECP256R1())
        self.ksk = dns.dnssec.make_dnskey(self.ksk_private.public_key(), ALGORITHM, flags=257)
        self.zsk = dns.dnssec.make_dnskey(self.zsk_private.public_key(), ALGORITHM, flags=256)
        self.keys = dns.rrset.from_rdata(OWNER, 60, self.ksk, self.zsk) if signed else None
        self.soa = dns.rrset.from_text(OWNER, 60, "IN", "SOA",
                                       f"ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 5")
        self.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", ds) if ds else None
        self.key_sigs = self._sign(self.keys, self.ksk_private, self.ksk) if signed else None
        self.soa_sigs = self._sign(self.soa, self.zsk_private, self.zsk) if signed else None
        self.cds = None  # the signer's request to the parent (RFC 7344), once a rollover goes on

    @staticmethod
    def _sign(rrset, private, key):
        now = time.time()
        sig = dns.dnssec.sign(rrset, private, OWNER, key, inception=now - 60, expiration=now + 86400)
        return dns.rrset.from_rdata(OWNER, 60, sig)

    async def signed(self, name, rdtype):
        return {"DNSKEY": (self.keys, self.key_sigs), "SOA": (self.soa, self.soa_sigs),
                "DS": (self.ds, None), "CDS": (self.cds, None)}[rdtype]


def right_ds(zone: SignedZone) -> str:
    return dns.dnssec.make_ds(OWNER, zone.ksk, "SHA256").to_text()


def check(client: DnsClient):
    return asyncio.run(dnssec_chain(client, ZONE))


def test_an_unsigned_zone_without_ds_is_fine():
    outcome = check(SignedZone(signed=False))
    assert outcome.status is Status.OK
    assert "not signed" in outcome.detail


def test_a_signed_zone_without_ds_asks_for_the_ksk_ds_at_the_registrar():
    zone = SignedZone()
    outcome = check(zone)
    assert (outcome.status, outcome.code) == (Status.WARNING, "dnssec.ds-missing")
    assert outcome.value == right_ds(zone)  # the key-signing key's, never the zone-signing key's
    assert str(dns.dnssec.key_id(zone.ksk)) == outcome.value.split()[0]
    assert not CATALOGUE["dnssec.ds-missing"].blocking


def test_the_right_ds_validates_the_chain():
    zone = SignedZone()
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(zone)])
    outcome = check(zone)
    assert outcome.status is Status.OK, outcome.detail
    assert f"key {dns.dnssec.key_id(zone.ksk)}" in outcome.detail


def test_a_ds_naming_no_key_of_the_zone_is_blocking():
    zone = SignedZone()
    other = SignedZone()
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(other)])
    outcome = check(zone)
    assert (outcome.status, outcome.code) == (Status.ERROR, "dnssec.ds-mismatch")
    assert outcome.value == right_ds(zone)  # what the registrar should hold instead
    assert CATALOGUE["dnssec.ds-mismatch"].blocking


def test_a_ds_for_an_unsigned_zone_is_blocking():
    unsigned = SignedZone(signed=False)
    unsigned.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(SignedZone())])
    outcome = check(unsigned)
    assert (outcome.status, outcome.code) == (Status.ERROR, "dnssec.ds-mismatch")


def test_signatures_that_do_not_validate_are_bogus():
    zone = SignedZone()
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(zone)])
    # the SOA signed by a key the zone does not publish
    stranger = ec.generate_private_key(ec.SECP256R1())
    zone.soa_sigs = SignedZone._sign(zone.soa, stranger,
                                     dns.dnssec.make_dnskey(stranger.public_key(), ALGORITHM))
    outcome = check(zone)
    assert (outcome.status, outcome.code) == (Status.ERROR, "dnssec.bogus")
    zone.soa_sigs = None
    assert check(zone).code == "dnssec.bogus"


def test_ds_records_name_each_key_signing_key():
    zone = SignedZone()
    assert ds_records(ZONE, zone.keys) == [right_ds(zone)]


def test_the_registrar_steps_give_every_field_of_the_ds():
    zone = SignedZone()
    ds = right_ds(zone)
    tag, algorithm, digest_type, digest = ds.split(maxsplit=3)
    host = DnsHost("rfc2136", "your DNS server (RFC 2136 updates)", True)
    steps = steps_for("dnssec.ds-missing", host, [Record(ZONE, "DS", ds)], ZONE, "")
    assert steps[0].startswith(f"At the registrar where {ZONE} is registered")
    assert f"Key tag {tag}, Algorithm {algorithm}, Digest type {digest_type}" in steps[0]
    assert digest.replace(" ", "").lower() in steps[0].lower()
    # a DS lives in the parent: even a zone mailfleet manages gets no "re-run the domain" step
    assert not any("re-run the domain" in s for s in steps)
    mismatch = steps_for("dnssec.ds-mismatch", host, [Record(ZONE, "DS", ds)], ZONE, "")
    assert "replace the DS record(s) with exactly" in mismatch[0]


def _rolling(zone: SignedZone, ds_for: list) -> SignedZone:
    """The zone in a key-signing key rollover: a successor KSK published beside the current one,
    the key set signed by both; the parent's DS names the keys in ``ds_for``."""
    successor = ec.generate_private_key(ec.SECP256R1())
    zone.new_ksk = dns.dnssec.make_dnskey(successor.public_key(), ALGORITHM, flags=257)
    zone.keys = dns.rrset.from_rdata(OWNER, 60, zone.ksk, zone.new_ksk, zone.zsk)
    now = time.time()
    sigs = [dns.dnssec.sign(zone.keys, private, OWNER, key, inception=now - 60, expiration=now + 86400)
            for private, key in ((zone.ksk_private, zone.ksk), (successor, zone.new_ksk))]
    zone.key_sigs = dns.rrset.from_rdata(OWNER, 60, *sigs)
    zone.ds = dns.rrset.from_text_list(
        OWNER, 60, "IN", "DS", [dns.dnssec.make_ds(OWNER, k, "SHA256").to_text() for k in ds_for(zone)])
    return zone


def test_a_new_key_signing_key_without_its_ds_asks_the_registrar_to_add_it():
    zone = _rolling(SignedZone(), lambda z: [z.ksk])
    outcome = check(zone)
    new_ds = dns.dnssec.make_ds(OWNER, zone.new_ksk, "SHA256").to_text()
    assert (outcome.status, outcome.code, outcome.value) == (Status.WARNING, "dnssec.ds-rollover", new_ds)
    assert not CATALOGUE["dnssec.ds-rollover"].blocking and CATALOGUE["dnssec.ds-rollover"].at_registrar
    host = DnsHost("rfc2136", "your DNS server (RFC 2136 updates)", True)
    steps = steps_for("dnssec.ds-rollover", host, [Record(ZONE, "DS", new_ds)], ZONE, "")
    assert "add, keeping the DS record already there" in steps[0]
    assert f"Key tag {new_ds.split()[0]}" in steps[0]
    # BIND moves the rollover on only once told the parent has the successor's DS
    assert f"`rndc dnssec -checkds -key {new_ds.split()[0]} published {ZONE}`" in steps[-1]
    cloudflare = DnsHost("cloudflare", "Cloudflare", True)
    assert not [s for s in steps_for("dnssec.ds-rollover", cloudflare, [Record(ZONE, "DS", new_ds)], ZONE, "")
                if "rndc" in s]
    both = _rolling(SignedZone(), lambda z: [z.ksk, z.new_ksk])
    assert check(both).status is Status.OK, check(both).detail


def test_a_ds_left_for_a_retired_key_asks_the_registrar_to_remove_it():
    zone = SignedZone()
    retired = SignedZone()  # a key the zone published before its rollover
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(zone), right_ds(retired)])
    outcome = check(zone)
    assert (outcome.status, outcome.code) == (Status.WARNING, "dnssec.ds-stale")
    assert outcome.value == right_ds(retired)
    host = DnsHost("rfc2136", "your DNS server (RFC 2136 updates)", True)
    steps = steps_for("dnssec.ds-stale", host, [Record(ZONE, "DS", right_ds(retired))], ZONE, "")
    assert f"remove: Key tag {right_ds(retired).split()[0]}" in steps[0]
    assert f"`rndc dnssec -checkds -key {right_ds(retired).split()[0]} withdrawn {ZONE}`" in steps[-1]


def _cds(zone: SignedZone, *keys) -> None:
    zone.cds = dns.rrset.from_text_list(
        OWNER, 60, "IN", "CDS", [dns.dnssec.make_ds(OWNER, k, "SHA256").to_text() for k in keys])


def test_the_signers_cds_records_lead_the_registrar_through_the_rollover():
    """BIND moves its CDS records to the successor key while both keys are published: the doctor
    asks for the successor's DS, then for the old DS's removal, and is satisfied with the new
    DS alone, all while the zone validates."""
    zone = _rolling(SignedZone(), lambda z: [z.ksk])
    _cds(zone, zone.new_ksk)
    new_ds = dns.dnssec.make_ds(OWNER, zone.new_ksk, "SHA256").to_text()
    assert (check(zone).code, check(zone).value) == ("dnssec.ds-rollover", new_ds)
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(zone), new_ds])
    stale = check(zone)
    assert (stale.status, stale.code, stale.value) == (Status.WARNING, "dnssec.ds-stale", right_ds(zone))
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [new_ds])
    assert check(zone).status is Status.OK, check(zone).detail


def test_a_cds_delete_request_is_not_taken_for_a_rollover():
    zone = _zone_with(lambda z: [z])
    zone.cds = dns.rrset.from_text_list(OWNER, 60, "IN", "CDS", ["0 0 0 00"])  # RFC 8078
    assert check(zone).status is Status.OK, check(zone).detail


def _zone_with(ds_for) -> SignedZone:
    zone = SignedZone()
    zone.ds = dns.rrset.from_text_list(OWNER, 60, "IN", "DS", [right_ds(z) for z in ds_for(zone)])
    return zone


def _bogus() -> SignedZone:
    zone = _zone_with(lambda z: [z])
    zone.soa_sigs = None
    return zone


@pytest.mark.parametrize(("zone", "state"), [
    (lambda: SignedZone(signed=False), Security.UNSIGNED),
    (SignedZone, Security.INSECURE),  # signed, no DS: resolvers treat it as unsigned
    (lambda: _zone_with(lambda z: [z]), Security.SECURE),
    (lambda: _zone_with(lambda z: [z, SignedZone()]), Security.SECURE),  # a stale DS beside the right one
    (lambda: _rolling(SignedZone(), lambda z: [z.ksk]), Security.SECURE),  # rollover waiting at the registrar
    (lambda: _zone_with(lambda z: [SignedZone()]), Security.BOGUS),
    (_bogus, Security.BOGUS),
])
def test_the_chain_outcome_says_what_a_validating_resolver_makes_of_the_zone(zone, state):
    assert security(check(zone())) is state
