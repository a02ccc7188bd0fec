"""`Outcome`: what a check function returns before the engine stamps server, key and time on it.

`code` names the finding (``spf.multiple``, ``mx.cname``) when the check failed in a way the DNS
doctor explains and tells how to fix; the sweep keeps its own check keys and ignores it."""

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
    code: str | None = None
    critical: bool = False  # see CheckResult.critical

    def result(self, server: str, check: str, at: datetime) -> CheckResult:
        return CheckResult(server, check, self.status, self.value, self.detail, at, self.link, self.critical)


def ok(detail: str = "", value: JsonScalar = None) -> Outcome:
    return Outcome(Status.OK, value, detail)


def warning(detail: str, value: JsonScalar = None, code: str | None = None) -> Outcome:
    return Outcome(Status.WARNING, value, detail, code=code)


def error(detail: str, value: JsonScalar = None, code: str | None = None) -> Outcome:
    return Outcome(Status.ERROR, value, detail, code=code)


def unknown(detail: str, value: JsonScalar = None, code: str | None = None) -> Outcome:
    return Outcome(Status.UNKNOWN, value, detail, code=code)
