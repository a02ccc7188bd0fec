"""Secret paths: the layout the team codes against, and the strict rules every path follows.

Layout (fields in braces)::

    tenants/<tenant>/ssh_key        {private_key, public_key}
    tenants/<tenant>/mailu          {secret_key, api_token, admin_password}
    tenants/<tenant>/restic         {password}
    tenants/<tenant>/acme_account   {private_key}
    global/hostwinds                {api_key}
    global/cloudflare               {api_token}
    global/dns_tsig                 {secret}  (the RFC 2136 provider's TSIG key)
    global/controller               {redis_password, database_password}  (worker machines' access)

A path is 1-8 segments joined by "/"; each segment is lower-case letters, digits, "_" and "-",
starts with a letter or digit and is at most 63 characters. So "..", ".", empty segments, leading
or trailing slashes, spaces and upper case are all refused before any backend is touched.
"""

from __future__ import annotations

import re

from ..validation import ValidationError, validate_tenant_slug
from .errors import InvalidSecretPath

SEGMENT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_SEGMENTS = 8

TENANTS = "tenants"
GLOBAL = "global"

# The per-tenant secrets and their fields.
SSH_KEY = "ssh_key"
MAILU = "mailu"
RESTIC = "restic"
ACME_ACCOUNT = "acme_account"
TENANT_SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    SSH_KEY: ("private_key", "public_key"),
    MAILU: ("secret_key", "api_token", "admin_password"),
    RESTIC: ("password",),
    ACME_ACCOUNT: ("private_key",),
}

HOSTWINDS_PATH = f"{GLOBAL}/hostwinds"  # {api_key}
CLOUDFLARE_PATH = f"{GLOBAL}/cloudflare"  # {api_token}
DIGITALOCEAN_PATH = f"{GLOBAL}/digitalocean"  # {api_token}
DNS_TSIG_PATH = f"{GLOBAL}/dns_tsig"  # {secret}


def validate_segment(segment: str, what: str = "path segment") -> str:
    if not isinstance(segment, str) or not SEGMENT_RE.fullmatch(segment):
        raise InvalidSecretPath(
            f"invalid {what} {segment!r}: use 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return segment


def validate_path(path: str) -> str:
    """Return `path` unchanged if it is valid, else raise InvalidSecretPath."""
    if not isinstance(path, str) or not path:
        raise InvalidSecretPath("a secret path must be a non-empty string")
    segments = path.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidSecretPath(f"invalid secret path {path!r}: more than {MAX_SEGMENTS} segments")
    for segment in segments:
        if not SEGMENT_RE.fullmatch(segment):
            raise InvalidSecretPath(
                f"invalid secret path {path!r}: segment {segment!r} must be 1-63 lower-case letters, "
                "digits, '_' or '-', starting with a letter or digit (no '..', no empty segments)"
            )
    return path


def validate_prefix(prefix: str) -> str:
    """A prefix for list(): '' (everything) or a valid path, with one trailing '/' tolerated."""
    stripped = prefix[:-1] if prefix.endswith("/") else prefix
    return "" if stripped == "" else validate_path(stripped)


def validate_field(field: str) -> str:
    if not isinstance(field, str) or not FIELD_RE.fullmatch(field):
        raise InvalidSecretPath(
            f"invalid field name {field!r}: use letters, digits and '_', starting with a letter or '_'"
        )
    return field


def validate_tenant(tenant: str) -> str:
    """A tenant slug (the shared rule in mailfleet.validation) that is also a valid path segment."""
    try:
        validate_tenant_slug(tenant)
    except ValidationError as exc:
        raise InvalidSecretPath(str(exc)) from None
    return validate_segment(tenant, "tenant name")


def tenant_path(tenant: str, kind: str) -> str:
    """`tenant_path("acme", "mailu")` -> "tenants/acme/mailu" (both parts validated)."""
    validate_tenant(tenant)
    validate_segment(kind, "secret name")
    return f"{TENANTS}/{tenant}/{kind}"


def tenant_prefix(tenant: str) -> str:
    return f"{TENANTS}/{validate_tenant(tenant)}"
