"""mailfleet.validation: the shared validators for domains, emails, host names and tenant slugs."""

from __future__ import annotations

import pytest

from mailfleet.validation import (
    ValidationError,
    normalize_domain,
    normalize_email,
    normalize_hostname,
    validate_tenant_slug,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.test", "a-b.c-d.test"),
    ],
)
def test_domains_normalize(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "localhost",
        "-a.test",
        "a-.test",
        "a..test",
        "a_b.test",
        "1.2.3.4",
        "a" * 64 + ".test",
        ("a" * 60 + ".") * 5 + "test",
        "exa mple.com",
        "example.com/x",
        None,
        42,
    ],
)
def test_bad_domains_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_domain(raw)


def test_hostname_is_a_domain_rule():
    assert normalize_hostname("Mail.Acme.TEST") == "mail.acme.test"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Doe@Example.com", "john.doe@example.com"),
        ("info@Bücher.example", "info@xn--bcher-kva.example"),
        ("a+tag@example.com", "a+tag@example.com"),
    ],
)
def test_emails_normalize(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "plain",
        "@example.com",
        "a@",
        "a b@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a.@example.com",
        "a@b@example.com",
        "a@localhost",
        "x" * 65 + "@example.com",
        '"q"@example.com',
        "a;rm -rf@example.com",
    ],
)
def test_bad_emails_are_refused(raw):
    with pytest.raises(ValidationError) as err:
        normalize_email(raw)
    assert repr(raw) in str(err.value) or "email" in str(err.value)


def test_tenant_slugs():
    assert validate_tenant_slug("acme-1") == "acme-1"
    for bad in ("ab", "1acme", "Acme", "acme-", "a" * 33, "acme_corp"):
        with pytest.raises(ValidationError):
            validate_tenant_slug(bad)
