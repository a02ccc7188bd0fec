"""Cloudflare API v4 client (DNS records), over the official SDK; used by the dns role's modules."""

from __future__ import annotations

from .client import DEFAULT_BASE_URL, CloudflareClient, CloudflareRecord
from .errors import CloudflareAuthError, CloudflareError, CloudflareNotFound
from .records import record_from_api, record_payload

__all__ = [
    "DEFAULT_BASE_URL",
    "CloudflareAuthError",
    "CloudflareClient",
    "CloudflareError",
    "CloudflareNotFound",
    "CloudflareRecord",
    "record_from_api",
    "record_payload",
]
