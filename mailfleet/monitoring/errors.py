"""Every exception the monitoring package raises, in one place.

Messages say what was wrong and what to change; they never contain a secret (probe passwords,
webhook secrets, relay passwords), so callers may log them or show them in the UI.
"""

from __future__ import annotations


class MonitoringError(Exception):
    """Base class: anything that went wrong in the monitoring package."""


class MonitoringConfigError(MonitoringError, ValueError):
    """The monitoring configuration is invalid (public resolver, SORBS, bad threshold ...)."""


class FactsError(MonitoringError, ValueError):
    """A facts document from the health play is malformed."""


class NotificationError(MonitoringError):
    """A notification could not be delivered on one channel."""
