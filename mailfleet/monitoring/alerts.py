"""The alert state machine: pure functions from (previous state, new result) to (new state,
notifications to send). No I/O, no clock: time comes from the result or the caller.

- An alert opens after `fail_after` failing results in a row (WARNING or ERROR), or at once, as
  critical, on a result marked critical (a critical blocklist listing), and resolves after
  `pass_after` OK results in a row; UNKNOWN results move neither count (a resolver timeout is not
  evidence either way). This hysteresis is what keeps a flapping check from notifying twice.
- Notifications go out on change only: opened, severity raised above what was already sent,
  escalated, resolved.
- Escalation: a CRITICAL alert left unacknowledged for `escalate_after` goes to the escalation
  channel once.
- Retirement: a server taken out of service (deprovisioned, gone from the provider) resolves its
  active alerts with the reason on their timeline and forgets its counts; nobody is notified (the
  person who removed the server knows, and there is nothing left to fix).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .errors import MonitoringConfigError, MonitoringError
from .results import CheckResult, Severity, Status


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    OPENED = "opened"
    SEVERITY_RAISED = "severity_raised"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    # A person asked a blocklist to delist the address (recorded only; the state machine ignores it).
    DELISTING_REQUESTED = "delisting_requested"
    # Failover offered or started for a server that is down (recorded only, like the above).
    FAILOVER = "failover"
    # A listing lowered the server's sending caps (recorded only, like the above).
    CAPS_LOWERED = "caps_lowered"


class Channel(StrEnum):
    PRIMARY = "primary"
    ESCALATION = "escalation"


class AlertStateError(MonitoringError):
    """An operation that the alert's state does not allow (acknowledging a resolved alert ...)."""


@dataclass(frozen=True)
class AlertPolicy:
    fail_after: int = 3
    pass_after: int = 2
    severity: Severity | None = None  # None: ERROR -> critical, WARNING -> warning
    escalate_after: timedelta | None = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.fail_after < 1 or self.pass_after < 1:
            raise MonitoringConfigError("fail_after and pass_after must be at least 1")
        if self.escalate_after is not None and self.escalate_after <= timedelta(0):
            raise MonitoringConfigError("escalate_after must be positive (or null for never)")

    def severity_for(self, status: Status) -> Severity:
        if self.severity is not None:
            return self.severity
        return Severity.CRITICAL if status is Status.ERROR else Severity.WARNING


@dataclass(frozen=True)
class AlertPolicies:
    """A default policy and overrides by check-key prefix (`dnsbl:`, `port:25@`); longest prefix wins."""

    default: AlertPolicy = AlertPolicy()
    by_prefix: tuple[tuple[str, AlertPolicy], ...] = ()

    def for_check(self, check: str) -> AlertPolicy:
        best = ("", self.default)
        for prefix, policy in self.by_prefix:
            if check.startswith(prefix) and len(prefix) > len(best[0]):
                best = (prefix, policy)
        return best[1]


@dataclass(frozen=True)
class AlertEvent:
    at: datetime
    kind: EventKind
    detail: str = ""
    by: str | None = None


@dataclass(frozen=True)
class Alert:
    server: str
    check: str
    severity: Severity          # the highest reached while open
    state: AlertState
    opened_at: datetime
    detail: str                 # the latest failing result's detail
    link: str | None = None     # e.g. the DNSBL's delisting page
    notified_severity: Severity | None = None
    critical_since: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    events: tuple[AlertEvent, ...] = ()

    @property
    def key(self) -> str:
        """Stable identity: one check of one server opened at one time."""
        return f"{self.server}|{self.check}|{self.opened_at.isoformat()}"

    @property
    def active(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def _with_event(self, event: AlertEvent, **changes: Any) -> Alert:
        return replace(self, events=(*self.events, event), **changes)


class NotificationKind(StrEnum):
    OPENED = "opened"
    SEVERITY_RAISED = "severity_raised"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    channel: Channel
    alert: Alert
    at: datetime


@dataclass(frozen=True)
class CheckState:
    """Everything the machine remembers about one check of one server."""

    server: str
    check: str
    last_status: Status | None = None
    last_checked_at: datetime | None = None
    failures: int = 0   # failing results in a row
    passes: int = 0     # OK results in a row
    alert: Alert | None = None  # the active (open or acknowledged) alert, if any


@dataclass(frozen=True)
class Transition:
    state: CheckState
    notifications: tuple[Notification, ...] = ()
    resolved: Alert | None = None  # the alert this step resolved (the store keeps it as history)

    @property
    def alert(self) -> Alert | None:
        return self.resolved or self.state.alert


def evaluate(previous: CheckState | None, result: CheckResult, policy: AlertPolicy) -> Transition:
    """Fold one new result into the state of its check."""
    state = previous or CheckState(result.server, result.check)
    if (state.server, state.check) != (result.server, result.check):
        raise ValueError(f"result for {result.server}/{result.check} given to the state of "
                         f"{state.server}/{state.check}")
    now = result.checked_at
    state = replace(state, last_status=result.status, last_checked_at=now)
    notes: list[Notification] = []
    resolved: Alert | None = None
    alert = state.alert

    if result.status.failing:
        state = replace(state, failures=state.failures + 1, passes=0)
        severity = Severity.CRITICAL if result.critical else policy.severity_for(result.status)
        if alert is None and (state.failures >= policy.fail_after or result.critical):
            alert = Alert(
                server=result.server, check=result.check, severity=severity, state=AlertState.OPEN,
                opened_at=now, detail=result.detail, link=result.link, notified_severity=severity,
                critical_since=now if severity is Severity.CRITICAL else None,
                events=(AlertEvent(now, EventKind.OPENED, f"{severity.value}: {result.detail}"),),
            )
            notes.append(Notification(NotificationKind.OPENED, Channel.PRIMARY, alert, now))
        elif alert is not None:
            alert = replace(alert, detail=result.detail, link=result.link or alert.link)
            if severity.rank > alert.severity.rank:
                alert = alert._with_event(
                    AlertEvent(now, EventKind.SEVERITY_RAISED, f"{alert.severity.value} -> {severity.value}"),
                    severity=severity,
                    critical_since=now if severity is Severity.CRITICAL else alert.critical_since)
                if alert.notified_severity is None or severity.rank > alert.notified_severity.rank:
                    alert = replace(alert, notified_severity=severity)
                    notes.append(Notification(NotificationKind.SEVERITY_RAISED, Channel.PRIMARY, alert, now))
    elif result.status is Status.OK:
        state = replace(state, passes=state.passes + 1, failures=0)
        if alert is not None and state.passes >= policy.pass_after:
            resolved = alert._with_event(
                AlertEvent(now, EventKind.RESOLVED,
                           f"{state.passes} passing checks in a row: {result.detail}"),
                state=AlertState.RESOLVED, resolved_at=now)
            notes.append(Notification(NotificationKind.RESOLVED, Channel.PRIMARY, resolved, now))
            if resolved.escalated_at is not None:
                notes.append(Notification(NotificationKind.RESOLVED, Channel.ESCALATION, resolved, now))
            alert = None
    # UNKNOWN: counts unchanged; the alert (if any) stays as it is.

    state = replace(state, alert=alert)
    escalation = _escalate(state, policy, now)
    return Transition(escalation.state, (*notes, *escalation.notifications), resolved)


def tick(state: CheckState, policy: AlertPolicy, now: datetime) -> Transition:
    """Let time pass without a new result (a periodic job calls this so escalation is not late)."""
    return _escalate(state, policy, now)


def _escalate(state: CheckState, policy: AlertPolicy, now: datetime) -> Transition:
    alert = state.alert
    if (alert is None or alert.state is not AlertState.OPEN or alert.severity is not Severity.CRITICAL
            or alert.escalated_at is not None or policy.escalate_after is None
            or alert.critical_since is None or now - alert.critical_since < policy.escalate_after):
        return Transition(state)
    minutes = int(policy.escalate_after.total_seconds() // 60)
    alert = alert._with_event(
        AlertEvent(now, EventKind.ESCALATED, f"critical and unacknowledged for {minutes} min"),
        escalated_at=now)
    return Transition(replace(state, alert=alert),
                      (Notification(NotificationKind.ESCALATED, Channel.ESCALATION, alert, now),))


def acknowledge(state: CheckState, by: str, now: datetime, note: str = "") -> Transition:
    """A person takes the alert: it stays active (until it resolves) but no longer escalates."""
    alert = state.alert
    if alert is None:
        raise AlertStateError(f"{state.server}/{state.check}: no active alert to acknowledge")
    if alert.state is AlertState.ACKNOWLEDGED:
        raise AlertStateError(
            f"{state.server}/{state.check}: already acknowledged by {alert.acknowledged_by}")
    if not by:
        raise AlertStateError("acknowledging needs the name of who does it")
    alert = alert._with_event(AlertEvent(now, EventKind.ACKNOWLEDGED, note, by),
                              state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by)
    return Transition(replace(state, alert=alert))


def retire(state: CheckState, now: datetime, reason: str) -> Transition:
    """The check's server is out of service: its active alert (if any) resolves with ``reason``
    on its timeline, and the counts start again should the name ever be checked again."""
    if not reason:
        raise AlertStateError("retiring a check needs the reason, for the alert's timeline")
    resolved = None
    if state.alert is not None:
        resolved = state.alert._with_event(AlertEvent(now, EventKind.RESOLVED, reason),
                                           state=AlertState.RESOLVED, resolved_at=now)
    return Transition(replace(state, failures=0, passes=0, alert=None), (), resolved)
