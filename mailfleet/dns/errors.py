"""Exceptions of the DNS helpers: one base class, one subclass per thing a caller handles."""

from __future__ import annotations


class DnsError(Exception):
    """Base class for every error raised by :mod:`mailfleet.dns`."""


class DnsInputError(DnsError, ValueError):
    """A record, name or value given by the caller is invalid; nothing was changed."""


class DnsQueryError(DnsError):
    """A name server could not be asked (timeout, refused, SERVFAIL, no zone)."""


class DnsConflictError(DnsError):
    """Records we do not own stand where ours must go (a second SPF, a CNAME at the name, ...)."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        super().__init__(
            "records not managed by mailfleet conflict with the wanted ones (remove them or stop "
            "publishing ours): " + "; ".join(conflicts)
        )


class PropagationTimeout(DnsError):
    """Some authoritative servers did not answer the wanted values before the deadline."""

    def __init__(self, report: object, message: str) -> None:
        self.report = report
        super().__init__(message)
