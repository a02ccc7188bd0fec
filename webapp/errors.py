"""Every exception the control plane raises on purpose, in one module."""

from __future__ import annotations


class MailfleetWebError(Exception):
    """Base class: the message is safe to show to the person who caused it."""


class ConfigError(MailfleetWebError):
    """A setting is missing or malformed."""


class NotFound(MailfleetWebError):
    """The object does not exist, or the principal may not see it (indistinguishable on purpose)."""


class Forbidden(MailfleetWebError):
    """The principal may see the object but not do this to it."""


class InvalidInput(MailfleetWebError):
    """Input failed validation; nothing was changed."""


class Conflict(MailfleetWebError):
    """The action clashes with the current state (duplicate name, run already finished, ...)."""


class RateLimited(MailfleetWebError):
    """Too many attempts; try again later."""


class UpstreamError(MailfleetWebError):
    """An outside API (Mailu, Hostwinds, the secrets store) failed; nothing was recorded as done."""
