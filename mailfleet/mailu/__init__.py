"""Mailu admin API client (shared by the Ansible modules and the web app)."""

from __future__ import annotations

from mailfleet.mailu.client import DNS_RECORD_FIELDS, BulkCreateResult, MailuClient, strip_secrets
from mailfleet.mailu.errors import (
    MailuAuthError,
    MailuConflictError,
    MailuDuplicateError,
    MailuError,
    MailuLimitReachedError,
    MailuNotFoundError,
    MailuRateLimitedError,
    MailuServerError,
    MailuUnavailableError,
    MailuValidationError,
)
from mailfleet.mailu.passwords import generate_password

__all__ = [
    "DNS_RECORD_FIELDS",
    "BulkCreateResult",
    "MailuAuthError",
    "MailuClient",
    "MailuConflictError",
    "MailuDuplicateError",
    "MailuError",
    "MailuLimitReachedError",
    "MailuNotFoundError",
    "MailuRateLimitedError",
    "MailuServerError",
    "MailuUnavailableError",
    "MailuValidationError",
    "generate_password",
    "strip_secrets",
]
