"""Every exception the secrets store raises, in one place.

Messages name the backend, the path and what to do next; they never contain a secret value
(callers may log them, show them in the UI or store them in job events).
"""

from __future__ import annotations


class SecretsError(Exception):
    """Base class: anything that went wrong in the secrets store."""


class SecretsConfigError(SecretsError):
    """The store is configured wrongly (unknown backend, missing address, unreadable key file ...)."""


class InvalidSecretPath(SecretsError, ValueError):
    """A path, tenant name or field name that does not follow the store's strict rules."""


class InvalidSecretData(SecretsError, ValueError):
    """Data given to put() is not a non-empty mapping of field names to strings."""


class SecretNotFound(SecretsError, KeyError):
    """The path (or the requested version or field) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable
        return str(self.args[0]) if self.args else "secret not found"


class SecretsConflict(SecretsError):
    """A check-and-set write lost against a concurrent writer (the version moved on)."""


class SecretsBackendError(SecretsError):
    """The backend cannot be used right now: unreachable, broken answer, I/O error."""


class SecretsAccessDenied(SecretsBackendError):
    """The backend refused the credentials (wrong or expired token, bad AppRole, missing policy)."""


class SecretsSealed(SecretsBackendError):
    """Vault is sealed: nothing can be read or written until an operator unseals it."""


class SecretsTampered(SecretsBackendError):
    """The local store's file fails authentication: it was modified, truncated or corrupted."""


class SecretsKeyError(SecretsBackendError):
    """The master key is missing, malformed, too open, or not the key the store was written with."""
