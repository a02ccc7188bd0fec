"""Every exception the control plane raises on purpose, in one module."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mailfleet.validation import ValidationError

T = TypeVar("T")


class MailfleetWebError(Exception):
    """Base class: the message is safe to show to the person who caused it; ``status`` is the HTTP
    status the pages and the API answer with."""

    status = 400


class ConfigError(MailfleetWebError):
    """A setting is missing or malformed."""


class NotFound(MailfleetWebError):
    """The object does not exist, or the principal may not see it (indistinguishable on purpose)."""

    status = 404


class Forbidden(MailfleetWebError):
    """The principal may see the object but not do this to it."""

    status = 403


class InvalidInput(MailfleetWebError):
    """Input failed validation; nothing was changed."""


class Conflict(MailfleetWebError):
    """The action clashes with the current state (duplicate name, run already finished, ...)."""

    status = 409


class RateLimited(MailfleetWebError):
    """Too many attempts; try again later."""

    status = 429


class UpstreamError(MailfleetWebError):
    """An outside API (Mailu, Hostwinds, the secrets store) failed; nothing was recorded as done."""

    status = 502


def valid(rule: Callable[[str], T], value: str) -> T:
    """`value` as a rule of mailfleet.validation reads it (normalize_email, validate_tenant_slug
    ...); what the rule refuses is the person's InvalidInput, with the rule's words."""
    try:
        return rule(value)
    except ValidationError as exc:
        raise InvalidInput(str(exc)) from None
