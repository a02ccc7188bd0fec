from __future__ import annotations

import pytest

from mailfleet.dns import DnsInputError, Record, canonical_value, normalize_name
from mailfleet.dns.rdata import txt_wire_text

pytestmark = pytest.mark.unit


def test_names_are_lower_case_idna_without_final_dot():
    assert normalize_name("Mail.Example.TEST.") == "mail.example.test"
    assert normalize_name("_25._tcp.mail.example.test") == "_25._tcp.mail.example.test"
    assert normalize_name("dkim._domainkey.bücher.example") == "dkim._domainkey.xn--bcher-kva.example"


@pytest.mark.parametrize("bad", ["", "localhost", "exa mple.test", "a..b.test", "x.example._test", "1.2.3.4"])
def test_bad_names_are_refused(bad):
    with pytest.raises(DnsInputError):
        normalize_name(bad)


@pytest.mark.parametrize(
    ("rtype", "given", "canonical"),
    [
        ("A", " 198.18.15.10 ", "198.18.15.10"),
        ("AAAA", "2001:DB8:0::1", "2001:db8::1"),
        ("MX", "10 Mail.Example.Test", "10 mail.example.test."),
        ("SRV", "10 1 993 mail.example.test.", "10 1 993 mail.example.test."),
        ("CNAME", "mail.example.test", "mail.example.test."),
        ("TLSA", "3 1 1 " + "AB" * 32, "3 1 1 " + "ab" * 32),
        ("TXT", "v=spf1 mx ~all", "v=spf1 mx ~all"),
    ],
)
def test_canonical_values(rtype, given, canonical):
    assert canonical_value(rtype, given) == canonical


@pytest.mark.parametrize(
    ("rtype", "value"),
    [
        ("A", "2001:db8::1"),
        ("AAAA", "198.18.0.1"),
        ("MX", "mail.example.test"),
        ("TLSA", "3 1 1 zz"),
        ("TXT", ""),
        ("TXT", "caf\u00e9"),
        ("NS", "ns1.example.test"),
        ("SRV", "1 2 mail"),
    ],
)
def test_bad_values_are_refused(rtype, value):
    with pytest.raises(DnsInputError):
        canonical_value(rtype, value)


def test_long_txt_is_split_into_255_byte_strings_and_escaped():
    value = 'a"b\\' + "x" * 600
    text = txt_wire_text(value)
    parts = text.split('" "')
    assert len(parts) == 3
    assert text.startswith('"a\\"b\\\\')
    import dns.rdata

    rdata = dns.rdata.from_text("IN", "TXT", text)
    assert b"".join(rdata.strings).decode() == value


def test_record_ttl_bounds():
    assert Record.make("example.test", "MX", "10 mail.example.test", 600).ttl == 600
    with pytest.raises(DnsInputError):
        Record.make("example.test", "MX", "10 mail.example.test", 5)
