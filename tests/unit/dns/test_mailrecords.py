from __future__ import annotations

import pytest

from mailfleet.dns import DnsInputError, build_units, mta_sts_policy

pytestmark = pytest.mark.unit

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 300


def _records(unit):
    return {(r.name, r.rtype, r.value) for r in unit.records}


def test_host_and_domain_units():
    host, domain = build_units(
        host="mail.example.test",
        ipv4=["198.18.15.10"],
        ipv6=["2001:db8::10"],
        tlsa=["3 1 1 " + "ab" * 32],
        domains=[{"name": "example.test", "dkim_public_key": KEY, "dmarc_rua": "dmarc@reports.test"}],
    )
    assert host.manifest == "_mailfleet.mail.example.test"
    assert _records(host) == {
        ("mail.example.test", "A", "198.18.15.10"),
        ("mail.example.test", "AAAA", "2001:db8::10"),
        ("_25._tcp.mail.example.test", "TLSA", "3 1 1 " + "ab" * 32),
    }
    got = _records(domain)
    assert ("example.test", "MX", "10 mail.example.test.") in got
    assert ("example.test", "TXT", "v=spf1 mx a:mail.example.test ~all") in got
    assert ("dkim._domainkey.example.test", "TXT", f"v=DKIM1; k=rsa; p={KEY}") in got
    assert (
        "_dmarc.example.test",
        "TXT",
        "v=DMARC1; p=reject; rua=mailto:dmarc@reports.test; adkim=s; aspf=s",
    ) in got
    assert ("example.test._report._dmarc.reports.test", "TXT", "v=DMARC1") in got
    assert ("_submissions._tcp.example.test", "SRV", "10 1 465 mail.example.test.") in got
    assert ("_imap._tcp.example.test", "SRV", "20 1 143 mail.example.test.") in got
    assert ("autoconfig.example.test", "CNAME", "mail.example.test.") in got
    assert ("mta-sts.example.test", "A", "198.18.15.10") in got
    assert ("mta-sts.example.test", "AAAA", "2001:db8::10") in got
    assert ("_smtp._tls.example.test", "TXT", "v=TLSRPTv1; rua=mailto:postmaster@example.test") in got
    sts = [v for n, t, v in got if n == "_mta-sts.example.test"]
    assert sts == [f"v=STSv1; id={domain.extras['mta_sts_id']}"]
    assert "mx: mail.example.test\r\n" in domain.extras["mta_sts_policy"]


def test_no_report_authorization_for_own_domain_and_publish_switches():
    _, domain = build_units(
        host="mail.example.test",
        domains=[
            {
                "name": "example.test",
                "dmarc_rua": "d@example.test",
                "publish": {"dkim": False, "srv": False, "mta_sts": False},
            }
        ],
    )
    names = {r.name for r in domain.records}
    assert not any("_report" in n for n in names)
    assert not any(n.startswith(("_imap", "dkim.", "_mta-sts", "mta-sts")) for n in names)
    assert "_dmarc.example.test" in names


def test_mta_sts_id_changes_only_with_the_policy():
    def sts_id(**kw):
        return build_units(
            host="mail.example.test", domains=[{"name": "example.test", "dkim_public_key": KEY, **kw}]
        )[1].extras["mta_sts_id"]

    assert sts_id() == sts_id()
    assert sts_id() != sts_id(mta_sts_mode="enforce")
    assert sts_id() != sts_id(mta_sts_max_age=86400)
    assert len(sts_id()) == 20 and sts_id().isalnum()


def test_mta_sts_is_announced_in_testing_mode_unless_asked_for_enforce():
    # enforce with no policy served would make receivers refuse our mail.
    domain = {"name": "example.test", "dkim_public_key": KEY}
    [_, unit] = build_units(host="mail.example.test", domains=[domain])
    assert "mode: testing\r\n" in unit.extras["mta_sts_policy"]


def test_absent_domain_is_an_empty_unit():
    units = build_units(host="mail.example.test", domains=[{"name": "old.test", "state": "absent"}])
    assert units[1].owner == "old.test" and units[1].records == ()


@pytest.mark.parametrize(
    "domain",
    [
        {"name": "example.test"},  # no DKIM key
        {"name": "example.test", "dkim_public_key": KEY, "dmarc_policy": "block"},
        {"name": "example.test", "dkim_public_key": KEY, "dmarc_rua": "not-an-address"},
        {"name": "example.test", "dkim_public_key": KEY, "publish": {"mxx": True}},
        {"name": "exa mple.test", "dkim_public_key": KEY},
        {"name": "example.test", "dkim_public_key": KEY, "state": "gone"},
    ],
)
def test_bad_settings_are_refused(domain):
    with pytest.raises(DnsInputError):
        build_units(host="mail.example.test", domains=[domain])


def test_duplicate_domains_and_bad_addresses_are_refused():
    with pytest.raises(DnsInputError):
        build_units(host="mail.example.test", domains=[{"name": "a.test", "state": "absent"}] * 2)
    with pytest.raises(DnsInputError):
        build_units(host="mail.example.test", ipv4=["2001:db8::1"])


def test_policy_text_validation():
    assert mta_sts_policy("enforce", ["mx.example.test"], 86400).startswith("version: STSv1\r\nmode: enforce")
    with pytest.raises(DnsInputError):
        mta_sts_policy("enforce", ["mx.example.test"], 60)


def test_a_secondary_mx_is_published_after_the_host_and_named_in_the_mta_sts_policy():
    shop = {"name": "shop.example.test", "dkim_public_key": "QUJD"}
    (_, unit) = build_units(host="mail.example.test", ipv4=["198.18.0.9"],
                            domains=[{**shop, "secondary_mx": "Mail2.Example.NET"}])
    mx = sorted(r.value for r in unit.records if r.rtype == "MX")
    assert mx == ["10 mail.example.test.", "20 mail2.example.net."]
    policy = unit.extras["mta_sts_policy"]
    assert policy == mta_sts_policy("testing", ["mail.example.test", "mail2.example.net"], 604800)
    assert "mx: mail.example.test\r\nmx: mail2.example.net\r\n" in policy
    (_, plain) = build_units(host="mail.example.test", domains=[shop])
    assert plain.extras["mta_sts_id"] != unit.extras["mta_sts_id"]
    for bad, why in (({"secondary_mx": "mail.example.test"}, "another host"),
                     ({"secondary_mx": "mx2.example.test", "secondary_mx_priority": 10}, "above")):
        with pytest.raises(DnsInputError, match=why):
            build_units(host="mail.example.test", domains=[{**shop, **bad}])
