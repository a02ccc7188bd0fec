"""`Outcome`: what a check function returns before the engine stamps server, key and time on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .results import CheckResult, JsonScalar, Status


@dataclass(frozen=True)
class Outcome:
    status: Status
    value: JsonScalar = None
    detail: str = ""
    link: str | None = None

    def result(self, server: str, check: str, at: datetime) -> CheckResult:
        return CheckResult(server, check, self.status, self.value, self.detail, at, self.link)


def ok(detail: str = "", value: JsonScalar = None) -> Outcome:
    return Outcome(Status.OK, value, detail)


def warning(detail: str, value: JsonScalar = None) -> Outcome:
    return Outcome(Status.WARNING, value, detail)


def error(detail: str, value: JsonScalar = None) -> Outcome:
    return Outcome(Status.ERROR, value, detail)


def unknown(detail: str, value: JsonScalar = None) -> Outcome:
    return Outcome(Status.UNKNOWN, value, detail)
