"""DNSSEC on the testbed's real BIND (inline signing) and Unbound (validating from the registry's
trust anchor), no host booted: a signed zone under the registry is insecure until the registrar
holds the DS record the DNS doctor gives; with it the resolver validates (AD); a wrong DS makes
the resolver refuse the zone and the doctor name it; a zone-signing key rollover never breaks
validation."""

from __future__ import annotations

import time

import dns.dnssec
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from mailfleet.dnsdoctor import Doctor, DoctorConfig, Readiness
from mailfleet.monitoring import MailDomain, ServerTarget
from mailfleet.monitoring.results import Status

pytestmark = pytest.mark.testbed

ZONE = "signed.dnssec.test"
HOST = f"mail.{ZONE}"


def resolve(tb, name: str, rdtype: str = "SOA") -> dns.message.Message:
    """Ask the testbed resolver with DNSSEC records wanted, as a validating sender's stub would."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    query.flags |= dns.flags.AD
    return dns.query.udp(query, tb.dns.resolver, timeout=3)


def eventually(probe, what: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < end, what
        time.sleep(0.5)
    return result


def doctor(tb):
    report = Doctor(DoctorConfig(resolver=tb.dns.resolver, managed="rfc2136")).run(
        ServerTarget("mail1", HOST, ipv4=(tb.layout.host_address(197),), domains=(MailDomain(ZONE),)),
        MailDomain(ZONE),
    )
    return report


def finding(report, code: str):
    return next((f for f in report.findings if f.code == code), None)


@pytest.fixture(scope="module")
def signed(testbed):
    testbed.add_zone(ZONE, signed=True)
    testbed.set_ds(ZONE, [])  # an instance kept from an earlier session may still hold one
    eventually(lambda: testbed._dns.dnskeys(ZONE), f"BIND did not sign {ZONE}")
    yield testbed
    testbed.set_ds(ZONE, [])


def test_the_registry_validates_from_the_trust_anchor(signed):
    answer = resolve(signed, "dnssec.test")
    assert answer.rcode() == dns.rcode.NOERROR
    assert answer.flags & dns.flags.AD


def test_ds_at_the_registrar_makes_the_signed_zone_validate(signed):
    report = doctor(signed)
    missing = finding(report, "dnssec.ds-missing")
    assert missing is not None, report.checks["dnssec"]
    assert not resolve(signed, ZONE).flags & dns.flags.AD  # signed, but nothing leads to its key
    ksk = next(k for k in signed._dns.dnskeys(ZONE) if k.flags & 1)
    expected = dns.dnssec.make_ds(f"{ZONE}.", ksk, "SHA256").to_text()
    assert [(r.name, r.rtype, r.value) for r in missing.records] == [(ZONE, "DS", expected)]
    assert any(s.startswith(f"At the registrar where {ZONE} is registered") for s in missing.guidance)

    signed.set_ds(ZONE, [r.value for r in missing.records])  # what the owner types at the registrar
    answer = eventually(lambda: (a := resolve(signed, ZONE)).flags & dns.flags.AD and a,
                        "the resolver did not validate the zone once its DS was published")
    assert answer.rcode() == dns.rcode.NOERROR
    report = doctor(signed)
    assert report.checks["dnssec"].status is Status.OK, report.checks["dnssec"].detail
    assert not [f for f in report.findings if f.code.startswith("dnssec.")]
    # signed and validated: DANE counts now, so a missing TLSA record is named
    assert finding(report, "tlsa.missing") is not None


def test_a_wrong_ds_is_refused_by_the_resolver_and_named_by_the_doctor(signed):
    ksk = next(k for k in signed._dns.dnskeys(ZONE) if k.flags & 1)
    right = dns.dnssec.make_ds(f"{ZONE}.", ksk, "SHA256").to_text()
    wrong = right[:-8] + ("0" * 8 if not right.endswith("0" * 8) else "1" * 8)
    signed.set_ds(ZONE, [wrong])
    try:
        eventually(lambda: resolve(signed, ZONE).rcode() == dns.rcode.SERVFAIL,
                   "the validating resolver kept answering for a zone whose DS names no key")
        report = doctor(signed)
        mismatch = finding(report, "dnssec.ds-mismatch")
        assert mismatch is not None and mismatch.status is Status.ERROR
        assert [r.value for r in mismatch.records] == [right]
        assert report.status is Readiness.FAILING
    finally:
        signed.set_ds(ZONE, [right])
    eventually(lambda: resolve(signed, ZONE).flags & dns.flags.AD, "the zone did not validate again")


def test_a_zone_signing_key_rollover_keeps_the_zone_validating(signed):
    ksk = next(k for k in signed._dns.dnskeys(ZONE) if k.flags & 1)
    signed.set_ds(ZONE, [dns.dnssec.make_ds(f"{ZONE}.", ksk, "SHA256").to_text()])
    eventually(lambda: resolve(signed, ZONE).flags & dns.flags.AD, "the zone did not validate")
    old = signed.rollover_zsk(ZONE)

    def signing_tags() -> set[int]:
        answer = resolve(signed, ZONE)
        # every answer during the rollover validates
        assert answer.flags & dns.flags.AD, f"validation broke during the rollover: {answer}"
        return {sig.key_tag for rrset in answer.answer if rrset.rdtype == dns.rdatatype.RRSIG
                for sig in rrset}

    new_tags = eventually(lambda: (tags := signing_tags()) and old not in tags and tags,
                          "BIND did not sign with the successor key", timeout=180)
    zsks = {dns.dnssec.key_id(k) for k in signed._dns.dnskeys(ZONE) if not k.flags & 1}
    assert new_tags <= zsks and old not in new_tags
    assert doctor(signed).checks["dnssec"].status is Status.OK
