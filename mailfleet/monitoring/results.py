"""What one check reports: `CheckResult`, and the status and severity vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mailfleet.clock import utcnow

JsonScalar = str | int | float | bool | None


class Status(StrEnum):
    """Outcome of one check. UNKNOWN means "could not tell" (timeout, resolver error), never a failure."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def failing(self) -> bool:
        return self in (Status.WARNING, Status.ERROR)


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.WARNING else 2


# Worst first: used to fold several answers (e.g. a DNSBL returning two codes) into one status.
_STATUS_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.ERROR: 3}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """The most serious status of several (ERROR > WARNING > UNKNOWN > OK); OK for none."""
    return max(statuses, key=_STATUS_RANK.__getitem__, default=Status.OK)


@dataclass(frozen=True)
class CheckResult:
    """One check of one server at one time.

    `check` is a stable key (``port:25@198.51.100.7``, ``dkim:example.com``,
    ``dnsbl:zen.spamhaus.org:198.51.100.7``); alerts are kept per (server, check).
    `link` carries the delisting page for DNSBL listings. `critical`: a failure that cannot wait
    (a critical blocklist listing): its alert opens on this first result, as critical.
    """

    server: str
    check: str
    status: Status
    value: JsonScalar = None
    detail: str = ""
    checked_at: datetime = field(default_factory=utcnow)
    link: str | None = None
    critical: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "check": self.check,
            "status": self.status.value,
            "value": self.value,
            "detail": self.detail,
            "checked_at": self.checked_at.isoformat(),
            "link": self.link,
            "critical": self.critical,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            server=data["server"],
            check=data["check"],
            status=Status(data["status"]),
            value=data.get("value"),
            detail=data.get("detail", ""),
            checked_at=datetime.fromisoformat(data["checked_at"]),
            link=data.get("link"),
            critical=bool(data.get("critical", False)),
        )
