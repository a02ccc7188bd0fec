"""Shared validators for user-typed names: domains (IDNA), hostnames, emails, tenant slugs.

Pure functions, no I/O. Each ``normalize_*`` returns the canonical form (lower case, IDNA
A-labels) or raises :class:`ValidationError` with a message a person can act on. Callers check
input with these BEFORE any outside call, so bad input changes nothing.
"""

from __future__ import annotations

import re

import idna

__all__ = [
    "ValidationError",
    "normalize_domain",
    "normalize_email",
    "normalize_hostname",
    "validate_tenant_slug",
]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# RFC 5322 dot-atom characters; Mailu's own validator accepts the same set.
_LOCALPART = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
TENANT_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


class ValidationError(ValueError):
    """A value failed validation; the message names the value and the rule it broke."""


def normalize_domain(name: str) -> str:
    """Return ``name`` as a lower-case IDNA (A-label) domain with at least two labels.

    Accepts Unicode (``bücher.example``) and A-label forms; a single trailing dot is dropped.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("domain name is empty")
    raw = name.strip()
    if raw.endswith("."):
        raw = raw[:-1]
    try:
        ascii_name = idna.encode(raw, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValidationError(f"{name!r} is not a valid domain name: {exc}") from None
    if len(ascii_name) > 253:
        raise ValidationError(f"{name!r} is longer than 253 characters")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValidationError(f"{name!r} is not a fully qualified domain name (needs a dot)")
    for label in labels:
        if not _LABEL.match(label):
            raise ValidationError(f"{name!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise ValidationError(f"{name!r} looks like an IP address, not a domain name")
    return ascii_name


def normalize_hostname(name: str) -> str:
    """Return a fully qualified host name (same rules as a domain name)."""
    return normalize_domain(name)


def normalize_email(address: str) -> str:
    """Return ``address`` as ``localpart@domain`` in lower case with an IDNA domain.

    The local part is restricted to the RFC 5322 dot-atom set (no quoted forms), at most 64
    characters: what Mailu accepts for mailboxes and aliases.
    """
    if not isinstance(address, str) or "@" not in address:
        raise ValidationError(f"{address!r} is not an email address (no '@')")
    localpart, _, domain = address.strip().rpartition("@")
    localpart = localpart.lower()
    if not localpart:
        raise ValidationError(f"{address!r} has an empty local part")
    if len(localpart) > 64:
        raise ValidationError(f"{address!r} has a local part longer than 64 characters")
    if not _LOCALPART.match(localpart):
        raise ValidationError(f"{address!r} has an invalid local part {localpart!r}")
    try:
        ascii_domain = normalize_domain(domain)
    except ValidationError as exc:
        raise ValidationError(f"{address!r} has an invalid domain: {exc}") from None
    return f"{localpart}@{ascii_domain}"


def validate_tenant_slug(slug: str) -> str:
    """Return ``slug`` if it is a tenant slug: 3-32 chars of a-z, 0-9 and '-', starting with a letter."""
    if not isinstance(slug, str) or not TENANT_SLUG.fullmatch(slug):
        raise ValidationError(
            f"{slug!r} is not a valid tenant slug (3-32 characters: a-z, 0-9, '-'; starts with a letter)"
        )
    return slug
