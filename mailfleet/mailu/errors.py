"""Exceptions raised by the Mailu admin API client. Messages never contain the token or passwords."""

from __future__ import annotations


class MailuError(Exception):
    """Base class. ``status`` is the HTTP status (None when no answer came); ``path`` the API path."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.path else ""
        code = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{code}{self.message}{where}"


class MailuValidationError(MailuError):
    """400: Mailu rejected the payload (or the client refused it before sending)."""


class MailuAuthError(MailuError):
    """401/403: token missing or wrong. Never retried: each wrong attempt feeds Mailu's IP rate limiter."""


class MailuNotFoundError(MailuError):
    """404: the domain, user, alias ... does not exist (for a new user: its domain is missing)."""


class MailuConflictError(MailuError):
    """409: a duplicate, or a domain limit reached."""


class MailuDuplicateError(MailuConflictError):
    """409: the object already exists."""


class MailuLimitReachedError(MailuConflictError):
    """409: the domain's max_users / max_aliases is reached."""


class MailuRateLimitedError(MailuError):
    """429: Mailu locked out this client's IP after too many failed authentications."""


class MailuServerError(MailuError):
    """5xx from Mailu (after the bounded retries for reads)."""


class MailuUnavailableError(MailuError):
    """No answer: connection refused, DNS failure, TLS failure or timeout."""
