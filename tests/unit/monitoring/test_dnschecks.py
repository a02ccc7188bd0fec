"""DNS checks against a scripted resolver (the real parsing code, canned records)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta

import dns.rdata
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailfleet.dns.rdata import Record
from mailfleet.monitoring import DEFAULT_DOMAIN_LISTS, DEFAULT_IP_LISTS, MailDomain, ServerTarget, Status
from mailfleet.monitoring import dnschecks as dc
from mailfleet.monitoring.dnsclient import DnsClient, DnsUnavailable
from mailfleet.monitoring.outcome import error, ok, warning

pytestmark = pytest.mark.unit

KEY = base64.b64encode(b"k" * 40).decode()
HOST = "mail.example.test"
TARGET = ServerTarget(
    "mail1",
    HOST,
    ipv4=("192.0.2.10",),
    ipv6=("2001:db8::10",),
    domains=(MailDomain("example.test", dkim_public_key=KEY),),
)
DOMAIN = TARGET.domains[0]


class ScriptedDns(DnsClient):
    def __init__(
        self,
        records: dict[tuple[str, str], list[str]],
        broken: set[str] = frozenset(),
        serials: dict[str, int] | None = None,
    ) -> None:
        super().__init__("127.0.0.1")
        self.records, self.broken, self.serials = records, broken, serials or {}

    async def rdatas(self, name, rdtype):
        if name in self.broken:
            raise DnsUnavailable(f"{rdtype} {name}: timed out")
        return [dns.rdata.from_text("IN", rdtype, text) for text in self.records.get((name, rdtype), [])]

    async def soa_serial_at(self, zone, server, port=53):
        if server not in self.serials:
            raise DnsUnavailable(f"SOA {zone} at {server}: no answer")
        return self.serials[server]


def healthy() -> dict[tuple[str, str], list[str]]:
    return {
        (HOST, "A"): ["192.0.2.10"],
        (HOST, "AAAA"): ["2001:db8::10"],
        ("example.test", "MX"): [f"10 {HOST}."],
        ("example.test", "TXT"): ['"v=spf1 mx -all"', '"google-site-verification=x"'],
        ("dkim._domainkey.example.test", "TXT"): [f'"v=DKIM1; k=rsa; " "p={KEY[:20]}" "{KEY[20:]}"'],
        ("_dmarc.example.test", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:d@example.test"'],
        ("10.2.0.192.in-addr.arpa.", "PTR"): [f"{HOST}."],
        ("example.test", "NS"): ["ns1.example.test.", "ns2.example.test."],
        ("ns1.example.test", "A"): ["127.77.1.1"],
        ("ns2.example.test", "A"): ["127.77.1.2"],
    }


def check(coro):
    return asyncio.run(coro)


def test_healthy_records_are_green():
    d = ScriptedDns(healthy())
    for outcome in (
        check(dc.host_addresses(d, TARGET, "A")),
        check(dc.host_addresses(d, TARGET, "AAAA")),
        check(dc.mx(d, TARGET, DOMAIN)),
        check(dc.spf(d, TARGET, DOMAIN)),
        check(dc.dkim(d, TARGET, DOMAIN)),
        check(dc.dmarc(d, TARGET, DOMAIN)),
        check(dc.ptr(d, TARGET, "192.0.2.10")),
    ):
        assert outcome.status is Status.OK, outcome.detail


def test_dkim_record_removed_or_changed_is_red():
    recs = healthy()
    del recs[("dkim._domainkey.example.test", "TXT")]
    assert check(dc.dkim(ScriptedDns(recs), TARGET, DOMAIN)).status is Status.ERROR
    recs[("dkim._domainkey.example.test", "TXT")] = ['"v=DKIM1; k=rsa; p=AAAAOTHERKEY"']
    outcome = check(dc.dkim(ScriptedDns(recs), TARGET, DOMAIN))
    assert outcome.status is Status.ERROR and "does not match" in outcome.detail
    recs[("dkim._domainkey.example.test", "TXT")] = ['"v=DKIM1; p="']
    assert "revoked" in check(dc.dkim(ScriptedDns(recs), TARGET, DOMAIN)).detail


def test_mx_elsewhere_is_red():
    recs = healthy()
    recs[("example.test", "MX")] = ["10 mx.other.test."]
    assert check(dc.mx(ScriptedDns(recs), TARGET, DOMAIN)).status is Status.ERROR


def test_a_record_pointing_elsewhere_is_red():
    recs = healthy()
    recs[(HOST, "A")] = ["198.51.100.1"]
    outcome = check(dc.host_addresses(ScriptedDns(recs), TARGET, "A"))
    assert outcome.status is Status.ERROR and "198.51.100.1" in outcome.detail


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ("v=spf1 mx -all", Status.OK),
        ("v=spf1 ip4:192.0.2.0/24 ~all", Status.OK),
        ("v=spf1 ip6:2001:db8::/32 -all", Status.OK),
        (f"v=spf1 a:{HOST} -all", Status.OK),
        ("v=spf1 ip4:198.51.100.0/24 -all", Status.ERROR),
        ("v=spf1 mx +all", Status.ERROR),
        ("v=spf1 mx ?all", Status.WARNING),
        ("v=spf1 mx", Status.WARNING),
        ("v=spf1 include:_spf.provider.test -all", Status.WARNING),
        ("v=spf1 -mx ip4:198.51.100.0/24 -all", Status.ERROR),
    ],
)
def test_spf_evaluation(record, status):
    assert dc.evaluate_spf(record, TARGET).status is status


def test_two_spf_records_is_a_permerror():
    recs = healthy()
    recs[("example.test", "TXT")] = ['"v=spf1 mx -all"', '"v=spf1 a -all"']
    assert check(dc.spf(ScriptedDns(recs), TARGET, DOMAIN)).status is Status.ERROR


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ("v=DMARC1; p=quarantine", Status.OK),
        ("v=DMARC1; p=none", Status.WARNING),
        ("v=DMARC1; sp=reject", Status.ERROR),
    ],
)
def test_dmarc_policy(record, status):
    recs = healthy()
    recs[("_dmarc.example.test", "TXT")] = [f'"{record}"']
    assert check(dc.dmarc(ScriptedDns(recs), TARGET, DOMAIN)).status is status


def test_ptr_mismatch_and_no_fcrdns():
    recs = healthy()
    recs[("10.2.0.192.in-addr.arpa.", "PTR")] = ["static-10.provider.test."]
    assert "expected" in check(dc.ptr(ScriptedDns(recs), TARGET, "192.0.2.10")).detail
    recs = healthy()
    recs[(HOST, "A")] = ["192.0.2.99"]
    outcome = check(dc.ptr(ScriptedDns(recs), TARGET, "192.0.2.10"))
    assert outcome.status is Status.ERROR and "does not lead back" in outcome.detail
    assert check(dc.ptr(ScriptedDns(recs), TARGET, "2001:db8::10")).status is Status.ERROR  # no PTR


def test_soa_serials_equal_differ_and_silent():
    d = ScriptedDns(healthy(), serials={"127.77.1.1": 7, "127.77.1.2": 7})
    assert check(dc.soa_serials(d, "example.test")).value == 7
    d = ScriptedDns(healthy(), serials={"127.77.1.1": 8, "127.77.1.2": 7})
    outcome = check(dc.soa_serials(d, "example.test"))
    assert outcome.status is Status.ERROR and "differ" in outcome.detail
    d = ScriptedDns(healthy(), serials={"127.77.1.1": 8})
    assert check(dc.soa_serials(d, "example.test")).status is Status.WARNING


def test_dnsbl_listing_through_resolver():
    zen = next(lst for lst in DEFAULT_IP_LISTS if lst.zone == "zen.spamhaus.org")
    d = ScriptedDns(
        {
            ("10.2.0.192.zen.spamhaus.org", "A"): ["127.0.0.2"],
            ("11.2.0.192.zen.spamhaus.org", "A"): ["127.255.255.254"],
        },
        broken={"12.2.0.192.zen.spamhaus.org"},
    )
    listed = check(dc.dnsbl_listing(d, "192.0.2.10", zen))
    assert listed.status is Status.ERROR and listed.link == "https://check.spamhaus.org/"
    refused = check(dc.dnsbl_listing(d, "192.0.2.11", zen))
    assert refused.status is Status.UNKNOWN and refused.link is None
    timeout = check(dc.dnsbl_listing(d, "192.0.2.12", zen))
    assert timeout.status is Status.UNKNOWN and "unknown" in timeout.detail
    assert check(dc.dnsbl_listing(d, "192.0.2.13", zen)).status is Status.OK


def test_dnsbl_selftest_needs_the_test_entry_listed_and_127_0_0_1_clean():
    zen = next(lst for lst in DEFAULT_IP_LISTS if lst.zone == "zen.spamhaus.org")
    working = {("2.0.0.127.zen.spamhaus.org", "A"): ["127.0.0.2", "127.0.0.4", "127.0.0.10"]}
    assert check(dc.dnsbl_selftest(ScriptedDns(working), zen)) is None
    dead = check(dc.dnsbl_selftest(ScriptedDns({}), zen))
    assert "test entry 127.0.0.2 is not listed" in dead
    wildcard = {(f"{n}.0.0.127.zen.spamhaus.org", "A"): ["127.0.0.2"] for n in (1, 2)}
    assert "it lists 127.0.0.1" in check(dc.dnsbl_selftest(ScriptedDns(wildcard), zen))
    refused = {("2.0.0.127.zen.spamhaus.org", "A"): ["127.255.255.254"]}
    assert "public/open resolver" in check(dc.dnsbl_selftest(ScriptedDns(refused), zen))
    timeout = ScriptedDns(working, broken={"1.0.0.127.zen.spamhaus.org"})
    assert "could not be looked up" in check(dc.dnsbl_selftest(timeout, zen))
    dbl = next(lst for lst in DEFAULT_DOMAIN_LISTS if lst.zone == "dbl.spamhaus.org")
    dbltest = ScriptedDns({("dbltest.com.dbl.spamhaus.org", "A"): ["127.0.1.2"]})
    assert check(dc.dnsbl_selftest(dbltest, dbl)) is None
    assert "dbltest.com is not listed" in check(dc.dnsbl_selftest(ScriptedDns({}), dbl))


def _cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_tlsa_matches_or_not():
    der = _cert()
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    name = f"_25._tcp.{HOST}"
    good = ScriptedDns({(name, "TLSA"): [f"3 1 1 {hashlib.sha256(spki).hexdigest()}"]})
    assert check(dc.tlsa(good, TARGET, der, required=False)).status is Status.OK
    bad = ScriptedDns({(name, "TLSA"): [f"3 1 1 {'00' * 32}"]})
    assert check(dc.tlsa(bad, TARGET, der, required=False)).status is Status.ERROR
    assert check(dc.tlsa(good, TARGET, None, required=False)).status is Status.UNKNOWN
    none = ScriptedDns({})
    assert check(dc.tlsa(none, TARGET, der, required=False)).status is Status.OK
    assert check(dc.tlsa(none, TARGET, der, required=True)).status is Status.WARNING


def test_mta_sts_policy_evaluation():
    recs = {("_mta-sts.example.test", "TXT"): ['"v=STSv1; id=20250301"']}

    def fetcher(body, status=200):
        async def fetch(host):
            assert host == "mta-sts.example.test"
            return status, body

        return fetch

    d = ScriptedDns(recs)
    good = f"version: STSv1\nmode: enforce\nmx: {HOST}\nmax_age: 604800\n"
    assert check(dc.mta_sts(d, TARGET, DOMAIN, fetcher(good), True)).status is Status.OK
    wildcard = "version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 604800\n"
    assert check(dc.mta_sts(d, TARGET, DOMAIN, fetcher(wildcard), True)).status is Status.OK
    testing = good.replace("enforce", "testing")
    assert check(dc.mta_sts(d, TARGET, DOMAIN, fetcher(testing), True)).status is Status.WARNING
    other = good.replace(HOST, "mx.other.test")
    assert check(dc.mta_sts(d, TARGET, DOMAIN, fetcher(other), True)).status is Status.ERROR
    assert check(dc.mta_sts(d, TARGET, DOMAIN, fetcher("", 404), True)).status is Status.ERROR
    assert check(dc.mta_sts(ScriptedDns({}), TARGET, DOMAIN, fetcher(good), True)).status is Status.WARNING


def test_failures_carry_the_doctors_codes():
    recs = healthy()
    recs[("example.test", "MX")] = ["10 alias.example.test."]
    recs[("alias.example.test", "CNAME")] = [f"{HOST}."]
    assert check(dc.mx(ScriptedDns(recs), TARGET, DOMAIN)).code == "mx.cname"
    recs[("example.test", "MX")] = ["10 192.0.2.10."]
    assert check(dc.mx(ScriptedDns(recs), TARGET, DOMAIN)).code == "mx.ip"
    del recs[("example.test", "MX")]
    assert check(dc.mx(ScriptedDns(recs), TARGET, DOMAIN)).code == "mx.missing"
    recs = healthy()
    recs[("example.test", "TXT")] = ['"v=spf1 mx -all"', '"v=spf1 a -all"']
    assert check(dc.spf(ScriptedDns(recs), TARGET, DOMAIN)).code == "spf.multiple"
    assert dc.evaluate_spf("v=spf1 +all", TARGET).code == "spf.plus-all"


def exists_terms(n: int) -> str:
    return '"v=spf1 ' + " ".join(f"exists:x{i}.test" for i in range(n)) + ' ?all"'


def test_spf_lookups_count_what_includes_include():
    recs = healthy()
    recs[("example.test", "TXT")] = ['"v=spf1 mx include:a.example.test -all"']
    recs[("a.example.test", "TXT")] = ['"v=spf1 include:b.example.test a mx"']
    recs[("b.example.test", "TXT")] = [exists_terms(5)]
    d = ScriptedDns(recs)
    assert check(dc.spf_lookups(d, "v=spf1 mx include:a.example.test -all")) == 10
    assert check(dc.spf(d, TARGET, DOMAIN)).status is Status.OK
    recs[("b.example.test", "TXT")] = [exists_terms(6)]
    outcome = check(dc.spf(ScriptedDns(recs), TARGET, DOMAIN))
    assert outcome.status is Status.ERROR and outcome.code == "spf.too-many-lookups"
    recs[("b.example.test", "TXT")] = ['"v=spf1 include:a.example.test"']  # a loop
    assert check(dc.spf(ScriptedDns(recs), TARGET, DOMAIN)).code == "spf.too-many-lookups"


def test_dmarc_reports_elsewhere_need_that_domains_authorisation():
    recs = healthy()
    recs[("_dmarc.example.test", "TXT")] = ['"v=DMARC1; p=reject; rua=mailto:d@reports.example"']
    outcome = check(dc.dmarc_reports(ScriptedDns(recs), DOMAIN))
    assert outcome.code == "dmarc.report-unauthorized"
    assert outcome.value == "example.test._report._dmarc.reports.example"
    recs[("example.test._report._dmarc.reports.example", "TXT")] = ['"v=DMARC1"']
    assert check(dc.dmarc_reports(ScriptedDns(recs), DOMAIN)).status is Status.OK
    assert check(dc.dmarc_reports(ScriptedDns(healthy()), DOMAIN)).status is Status.OK  # same domain


def test_tls_rpt_record():
    recs = healthy()
    assert check(dc.tls_rpt(ScriptedDns(recs), DOMAIN)).code == "tls-rpt.missing"
    recs[("_smtp._tls.example.test", "TXT")] = ['"v=TLSRPTv1; rua=mailto:tls@example.test"']
    assert check(dc.tls_rpt(ScriptedDns(recs), DOMAIN)).status is Status.OK
    recs[("_smtp._tls.example.test", "TXT")] = ['"v=TLSRPTv1; rua=tls@example.test"']
    assert check(dc.tls_rpt(ScriptedDns(recs), DOMAIN)).code == "tls-rpt.invalid"


def test_a_proxied_mail_host_is_named():
    recs = healthy()
    recs[(HOST, "A")] = ["104.16.1.1"]
    outcome = check(dc.host_addresses(ScriptedDns(recs), TARGET, "A"))
    assert outcome.code == "host.proxied" and "104.16.1.1" in outcome.detail
    recs[(HOST, "A")] = ["198.51.100.1"]
    assert check(dc.host_addresses(ScriptedDns(recs), TARGET, "A")).code == "host.a-wrong"


TLSA_NAME = f"_25._tcp.{HOST}"


UNSIGNED = ok("example.test is not signed (DNSSEC off)")
INSECURE = warning("signed, no DS", "1 13 2 ab", code="dnssec.ds-missing")
SECURE = ok("example.test is signed; the parent's DS names key 1 and the signatures validate", "1 13 2 ab")
BOGUS = error("the signatures do not validate", "1 13 2 ab", code="dnssec.bogus")
TLSA_EE = {(TLSA_NAME, "TLSA"): ["3 1 1 " + "ab" * 32]}


@pytest.mark.parametrize(("chain", "records", "status", "code"), [
    (UNSIGNED, {}, Status.OK, None),  # unsigned, none: DANE does not apply
    (UNSIGNED, TLSA_EE, Status.WARNING, "tlsa.unsigned-zone"),
    (INSECURE, {}, Status.OK, None),  # signed without a DS: still no DANE (the DNSSEC check asks for the DS)
    (INSECURE, TLSA_EE, Status.WARNING, "tlsa.unsigned-zone"),
    (SECURE, {}, Status.WARNING, "tlsa.missing"),
    (SECURE, {(TLSA_NAME, "TLSA"): ["1 1 1 " + "ab" * 32]}, Status.WARNING, "tlsa.pkix-usage"),
    (SECURE, {(TLSA_NAME, "TLSA"): ["2 0 1 " + "ab" * 32]}, Status.OK, None),
    (BOGUS, TLSA_EE, Status.UNKNOWN, None),  # the DNSSEC check names the blocking fault
])
def test_tlsa_counts_only_where_dnssec_secures_the_zone(chain, records, status, code):
    async def unread() -> None:  # the served certificate is compared only with a DANE-EE record
        raise AssertionError("port 25 asked")

    outcome = check(dc.dane(ScriptedDns(records), TARGET, "example.test", chain, unread))
    assert (outcome.status, outcome.code) == (status, code), outcome.detail


@pytest.mark.parametrize(("records", "status"), [
    ({}, Status.OK),  # no CAA anywhere: any CA
    ({("example.test", "CAA"): ['0 issue "letsencrypt.org"', '0 iodef "mailto:x@example.test"']}, Status.OK),
    ({("example.test", "CAA"): ['0 issue "sectigo.com"']}, Status.ERROR),  # found climbing from the host
    ({("example.test", "CAA"): ['0 issue ";"']}, Status.ERROR),  # no CA at all
    ({("example.test", "CAA"): ['0 iodef "mailto:x@example.test"']}, Status.OK),  # no issue property
    # the closest set governs: the host's own allows it although the apex's does not
    ({("example.test", "CAA"): ['0 issue "sectigo.com"'], (HOST, "CAA"): ['0 issue "letsencrypt.org"']},
     Status.OK),
    # past the zone's apex: the parent zone's set governs a zone that has none (RFC 8659 3)
    ({("test", "CAA"): ['0 issue "sectigo.com"']}, Status.ERROR),
    # a critical property no CA knows forbids issuing, whatever the issue properties say
    ({("example.test", "CAA"): ['0 issue "letsencrypt.org"', '128 tbs "x"']}, Status.ERROR),
    ({("example.test", "CAA"): ['0 issue "letsencrypt.org"', '0 tbs "x"']}, Status.OK),
])
def test_caa_must_let_the_acme_ca_issue(records, status):
    outcome = check(dc.caa(ScriptedDns(records), HOST, "letsencrypt.org"))
    assert outcome.status is status, outcome.detail
    if status is Status.ERROR:
        assert outcome.code == "caa.forbids-ca"
        assert outcome.value == next(name for name, _ in records)  # where the fix goes


def test_caa_climbs_to_the_top_label_and_never_asks_the_root():
    asked = []

    class Recording(ScriptedDns):
        async def rdatas(self, name, rdtype):
            asked.append(name)
            return await super().rdatas(name, rdtype)

    assert check(dc.caa(Recording({}), HOST, "letsencrypt.org")).status is Status.OK
    assert asked == [HOST, "example.test", "test"]


def test_autoconfig_and_autodiscover_lead_to_the_mail_host():
    good = {("autoconfig.example.test", "CNAME"): [f"{HOST}."],
            ("autodiscover.example.test", "A"): ["192.0.2.10"]}
    assert check(dc.autoconfig(ScriptedDns(good), TARGET, DOMAIN)).status is Status.OK
    missing = check(dc.autoconfig(ScriptedDns({k: v for k, v in good.items() if "config" in k[0]}),
                                  TARGET, DOMAIN))
    assert missing.code == "autoconfig.missing" and "autodiscover.example.test" in missing.detail
    elsewhere = {**good, ("autoconfig.example.test", "CNAME"): ["mail.other.test."]}
    wrong = check(dc.autoconfig(ScriptedDns(elsewhere), TARGET, DOMAIN))
    assert wrong.code == "autoconfig.wrong" and "mail.other.test" in wrong.detail


def test_srv_records_hold_what_the_server_offers():
    expected = [Record.make("_imaps._tcp.example.test", "SRV", f"10 1 993 {HOST}."),
                Record.make("_submissions._tcp.example.test", "SRV", f"10 1 465 {HOST}.")]
    served = {(r.name, "SRV"): [r.value] for r in expected}
    assert check(dc.srv(ScriptedDns(served), expected)).status is Status.OK
    one_gone = dict(list(served.items())[:1])
    missing = check(dc.srv(ScriptedDns(one_gone), expected))
    assert missing.code == "srv.missing" and "_submissions._tcp.example.test" in missing.detail
    wrong_port = {**served, ("_imaps._tcp.example.test", "SRV"): [f"10 1 143 {HOST}."]}
    wrong = check(dc.srv(ScriptedDns(wrong_port), expected))
    assert wrong.code == "srv.wrong" and "143" in wrong.detail


def test_spamhaus_through_dqs_asks_with_the_key_and_never_shows_it():
    from mailfleet.monitoring import MonitoringConfigError
    from mailfleet.monitoring.dnsbl import with_dqs

    key = "k3y0123456789abcdefghijklm"
    lists = with_dqs(DEFAULT_IP_LISTS + DEFAULT_DOMAIN_LISTS, key)
    zen = next(lst for lst in lists if lst.name == "Spamhaus ZEN")
    dbl = next(lst for lst in lists if lst.name == "Spamhaus DBL")
    assert (zen.zone, zen.shown) == (f"{key}.zen.dq.spamhaus.net", "zen.spamhaus.org")
    assert (dbl.zone, dbl.shown) == (f"{key}.dbl.dq.spamhaus.net", "dbl.spamhaus.org")
    assert [lst.zone for lst in lists if "spamhaus" not in lst.zone] == [
        lst.zone for lst in DEFAULT_IP_LISTS + DEFAULT_DOMAIN_LISTS if "spamhaus" not in lst.zone
    ]
    d = ScriptedDns(
        {
            (f"10.2.0.192.{key}.zen.dq.spamhaus.net", "A"): ["127.0.0.4"],
            (f"2.0.0.127.{key}.zen.dq.spamhaus.net", "A"): ["127.0.0.2"],
            (f"dbltest.com.{key}.dbl.dq.spamhaus.net", "A"): ["127.0.1.2"],
        },
        broken={f"12.2.0.192.{key}.zen.dq.spamhaus.net", f"1.0.0.127.{key}.zen.dq.spamhaus.net"},
    )
    assert check(dc.dnsbl_listing(d, "192.0.2.10", zen)).status is Status.ERROR
    assert check(dc.dnsbl_selftest(d, dbl)) is None
    timeout = check(dc.dnsbl_listing(d, "192.0.2.12", zen))
    assert timeout.status is Status.UNKNOWN and "12.2.0.192.zen.spamhaus.org" in timeout.detail
    failed = check(dc.dnsbl_selftest(d, zen))
    assert "could not be looked up" in failed
    assert key not in timeout.detail + failed
    with pytest.raises(MonitoringConfigError, match="DQS key must be") as refused:
        with_dqs(DEFAULT_IP_LISTS, "Not A Key; rm -rf")
    assert "rm -rf" not in str(refused.value)
