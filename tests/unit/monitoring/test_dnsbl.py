"""DNSBL query names and return-code maps: error answers are never "listed"."""

from __future__ import annotations

import pytest

from mailfleet.monitoring import (
    DEFAULT_DOMAIN_LISTS,
    DEFAULT_IP_LISTS,
    DnsblList,
    ListKind,
    MonitoringConfigError,
    Status,
    classify,
    query_name,
)

pytestmark = pytest.mark.unit

ZEN = next(lst for lst in DEFAULT_IP_LISTS if lst.zone == "zen.spamhaus.org")
DBL = DEFAULT_DOMAIN_LISTS[0]


def test_ipv4_query_name_reverses_octets():
    assert query_name("192.0.2.99", ZEN) == "99.2.0.192.zen.spamhaus.org"


def test_ipv6_query_name_reverses_nibbles():
    name = query_name("2001:db8::1", ZEN)
    assert name == "1.0.0.0." + "0." * 20 + "8.b.d.0.1.0.0.2.zen.spamhaus.org"
    assert len(name.split(".")) == 32 + 3


def test_domain_query_name():
    assert query_name("Example.COM.", DBL) == "example.com.dbl.spamhaus.org"


@pytest.mark.parametrize("answer", ["127.255.255.254", "127.255.255.255", "127.255.255.252", "127.255.255.1"])
def test_error_answers_are_unknown_never_listed(answer):
    verdict = classify(ZEN, [answer])
    assert verdict.status is Status.UNKNOWN
    assert not verdict.listed
    assert "listed on" not in verdict.detail


def test_public_resolver_answer_explains_itself():
    assert "public/open resolver" in classify(ZEN, ["127.255.255.254"]).detail


def test_sbl_listing_is_error_and_listed():
    verdict = classify(ZEN, ["127.0.0.2"])
    assert verdict.status is Status.ERROR and verdict.listed
    assert "SBL" in verdict.detail


def test_pbl_is_a_configuration_warning():
    verdict = classify(ZEN, ["127.0.0.10"])
    assert verdict.status is Status.WARNING and verdict.listed


def test_several_codes_take_the_worst():
    verdict = classify(ZEN, ["127.0.0.11", "127.0.0.4"])
    assert verdict.status is Status.ERROR
    assert "XBL" in verdict.detail and "PBL" in verdict.detail


def test_spamhaus_sbl_xbl_and_dbl_phishing_or_malware_listings_are_critical():
    for zen in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"):
        assert classify(ZEN, [zen]).critical, zen
    for dbl in ("127.0.1.4", "127.0.1.5", "127.0.1.104", "127.0.1.105"):
        assert classify(DBL, [dbl]).critical, dbl
    verdict = classify(ZEN, ["127.0.0.11", "127.0.0.4"])
    assert verdict.critical and verdict.detail.startswith("critically listed on Spamhaus ZEN")
    # A spam domain, a PBL entry, an error answer and the other lists' listings are not critical.
    assert not classify(DBL, ["127.0.1.2"]).critical
    assert not classify(ZEN, ["127.0.0.10"]).critical
    assert not classify(ZEN, ["127.255.255.254"]).critical
    spamcop = next(x for x in DEFAULT_IP_LISTS if x.zone == "bl.spamcop.net")
    assert not classify(spamcop, ["127.0.0.2"]).critical


def test_no_answer_is_not_listed():
    assert classify(ZEN, []).status is Status.OK


def test_undocumented_or_foreign_answers_are_unknown():
    assert classify(ZEN, ["127.0.0.77"]).status is Status.UNKNOWN
    assert classify(ZEN, ["198.51.100.1"]).status is Status.UNKNOWN  # NXDOMAIN rewriting resolver


def test_dbl_codes():
    assert classify(DBL, ["127.0.1.2"]).status is Status.ERROR
    assert classify(DBL, ["127.0.1.255"]).status is Status.UNKNOWN


def test_every_default_list_has_a_delisting_page_and_no_sorbs():
    for lst in (*DEFAULT_IP_LISTS, *DEFAULT_DOMAIN_LISTS):
        assert lst.delist_url.startswith("https://")
        assert "sorbs" not in lst.zone


def test_sorbs_is_refused():
    with pytest.raises(MonitoringConfigError, match="SORBS"):
        DnsblList("SORBS", "dnsbl.sorbs.net", ListKind.IP, "https://example.invalid/")


def test_error_codes_cannot_be_mapped_to_listed():
    from mailfleet.monitoring import ReturnCode

    with pytest.raises(MonitoringConfigError, match="error answer"):
        DnsblList(
            "x",
            "bl.example.test",
            ListKind.IP,
            "https://example.invalid/",
            {"127.255.255.254": ReturnCode("listed", Status.ERROR)},
        )
