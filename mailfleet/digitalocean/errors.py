"""Exceptions of the DigitalOcean client; each message says what to do next and never holds the token."""

from __future__ import annotations

from mailfleet.providers.base import ProviderError


class DigitalOceanError(ProviderError):
    """Base class. `status` is the HTTP status, `error_id` the API's error id, `request_id` its
    request id (for a support ticket)."""

    def __init__(self, message: str, *, status: int | None = None, error_id: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.request_id = request_id


class ConfigurationError(DigitalOceanError):
    """No token, a malformed token or URL: nothing was sent."""


class NotAuthorizedError(DigitalOceanError):
    """401: the token is wrong, expired or revoked; 403: it lacks the scope."""


class NotFoundError(DigitalOceanError):
    """404: no such droplet, action or key."""


class UnprocessableError(DigitalOceanError):
    """422: the API refused the request as given (its message says why); nothing changed."""


class RateLimitedError(DigitalOceanError):
    """429 on every attempt: the account's request budget is spent for now."""


class TransportError(DigitalOceanError):
    """No usable answer (connection, timeout, 5xx, not JSON) after the bounded attempts."""


class TimeoutWaitingError(DigitalOceanError):
    """A droplet or an action did not reach the wanted state in time."""


class DropletExistsError(DigitalOceanError):
    """A droplet with mailfleet's label exists already; no second one is created."""
