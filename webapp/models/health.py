"""Health monitoring records: every check result, the current state per (server, check), alerts
with their timeline. `SqlHealthStore` implements mailfleet.monitoring's HealthStore on them, so the
pure state machine decides and this module only persists.

The sweep itself is a check too: each sweep records its outcome as the check ``monitoring`` of no
server (server_id NULL, named MONITORING_SERVER in alerts), so a broken sweep opens an alert through
the same state machine and notifiers, and the next good sweep resolves it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.monitoring import (
    Alert,
    AlertEvent,
    AlertState,
    AlertStateError,
    CheckResult,
    CheckState,
    EventKind,
    Severity,
    Status,
    Transition,
    acknowledge,
)
from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.types import UTCDateTime

#: The alert name of the monitoring's own check, which belongs to no server.
MONITORING_SERVER = "(control plane)"
MONITORING_CHECK = "monitoring"


def _server_name(server: Server | None) -> str:
    return server.name if server is not None else MONITORING_SERVER


class HealthResult(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "health_results"
    __table_args__ = (Index("ix_health_results_server_check_at", "server_id", "check", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class HealthAlert(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "health_alerts"
    __table_args__ = (UniqueConstraint("server_id", "check", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    notified_severity: Mapped[str | None] = mapped_column(String(16))
    critical_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    server: Mapped[Server | None] = relationship()
    events: Mapped[list[HealthAlertEvent]] = relationship(
        back_populates="alert", order_by="HealthAlertEvent.id", cascade="all, delete-orphan"
    )

    @property
    def server_name(self) -> str:
        return _server_name(self.server)

    def to_alert(self) -> Alert:
        return Alert(
            server=self.server_name,
            check=self.check,
            severity=Severity(self.severity),
            state=AlertState(self.state),
            opened_at=self.opened_at,
            detail=self.detail,
            link=self.link,
            notified_severity=Severity(self.notified_severity) if self.notified_severity else None,
            critical_since=self.critical_since,
            acknowledged_at=self.acknowledged_at,
            acknowledged_by=self.acknowledged_by,
            escalated_at=self.escalated_at,
            resolved_at=self.resolved_at,
            events=tuple(AlertEvent(e.at, EventKind(e.kind), e.detail, e.by) for e in self.events),
        )


class HealthAlertEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "health_alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("health_alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str | None] = mapped_column(String(254))

    alert: Mapped[HealthAlert] = relationship(back_populates="events")


class HealthCheck(db.Model):  # type: ignore[name-defined,misc]
    """Current state of one check of one server (the state machine's memory)."""

    __tablename__ = "health_checks"
    __table_args__ = (UniqueConstraint("server_id", "check"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(300))
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    last_detail: Mapped[str] = mapped_column(Text, default="")
    last_link: Mapped[str | None] = mapped_column(String(500))
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("health_alerts.id", ondelete="SET NULL"))

    server: Mapped[Server | None] = relationship()
    alert: Mapped[HealthAlert | None] = relationship()

    @property
    def server_name(self) -> str:
        return _server_name(self.server)

    def to_state(self) -> CheckState:
        return CheckState(
            server=self.server_name,
            check=self.check,
            last_status=Status(self.last_status) if self.last_status else None,
            last_checked_at=self.last_checked_at,
            failures=self.failures,
            passes=self.passes,
            alert=self.alert.to_alert() if self.alert is not None else None,
        )


class SqlHealthStore:
    """mailfleet.monitoring.HealthStore on the control plane's database (one commit per call)."""

    def __init__(self) -> None:
        self._server_ids: dict[str, int | None] = {MONITORING_SERVER: None}

    def _server_id(self, name: str) -> int | None:
        if name not in self._server_ids:
            server_id = db.session.scalar(select(Server.id).where(Server.name == name))
            if server_id is None:
                raise LookupError(f"no server named {name!r}")
            self._server_ids[name] = server_id
        return self._server_ids[name]

    def load_states(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], CheckState]:
        keys = set(keys)
        names = {server for server, _ in keys}
        where: ColumnElement[bool] = Server.name.in_(names)
        if MONITORING_SERVER in names:
            where = or_(where, HealthCheck.server_id.is_(None))
        rows = db.session.scalars(select(HealthCheck).outerjoin(Server).where(where)).all()
        return {(r.server_name, r.check): r.to_state() for r in rows if (r.server_name, r.check) in keys}

    def active_states(self) -> list[CheckState]:
        rows = db.session.scalars(select(HealthCheck).where(HealthCheck.alert_id.is_not(None))).all()
        return [r.to_state() for r in rows]

    def commit(self, results: Sequence[CheckResult], transitions: Sequence[Transition]) -> None:
        for r in results:
            db.session.add(
                HealthResult(
                    server_id=self._server_id(r.server),
                    check=r.check,
                    status=r.status.value,
                    value=r.value,
                    detail=r.detail,
                    link=r.link,
                    checked_at=r.checked_at,
                )
            )
        latest = {(r.server, r.check): r for r in results}
        for t in transitions:
            self._save(t, latest.get((t.state.server, t.state.check)))
        db.session.commit()

    def acknowledge(self, alert_id: int, by: str, now: datetime, note: str = "") -> HealthAlert:
        """A person takes the active alert `alert_id`: it stops escalating (the state machine decides;
        AlertStateError for a resolved or already acknowledged alert, nothing changed)."""
        check = db.session.scalar(select(HealthCheck).where(HealthCheck.alert_id == alert_id))
        if check is None:
            raise AlertStateError(f"alert {alert_id} is not active (resolved or unknown)")
        self._save(acknowledge(check.to_state(), by, now, note), None)
        db.session.commit()
        return db.session.get_one(HealthAlert, alert_id)

    def _alert_row(self, server_id: int | None, alert: Alert) -> HealthAlert:
        row = db.session.scalar(
            select(HealthAlert).where(
                HealthAlert.server_id == server_id,
                HealthAlert.check == alert.check,
                HealthAlert.opened_at == alert.opened_at,
            )
        )
        if row is None:
            row = HealthAlert(server_id=server_id, check=alert.check, opened_at=alert.opened_at)
            db.session.add(row)
        row.severity, row.state = alert.severity.value, alert.state.value
        row.detail, row.link = alert.detail, alert.link
        row.notified_severity = alert.notified_severity.value if alert.notified_severity else None
        row.critical_since, row.acknowledged_at = alert.critical_since, alert.acknowledged_at
        row.acknowledged_by, row.escalated_at, row.resolved_at = (
            alert.acknowledged_by,
            alert.escalated_at,
            alert.resolved_at,
        )
        for event in alert.events[len(row.events) :]:  # the timeline only grows
            row.events.append(
                HealthAlertEvent(at=event.at, kind=event.kind.value, detail=event.detail, by=event.by)
            )
        return row

    def _save(self, t: Transition, result: CheckResult | None) -> None:
        state = t.state
        server_id = self._server_id(state.server)
        row = db.session.scalar(
            select(HealthCheck).where(HealthCheck.server_id == server_id, HealthCheck.check == state.check)
        )
        if row is None:
            row = HealthCheck(server_id=server_id, check=state.check)
            db.session.add(row)
        row.last_status = state.last_status.value if state.last_status else None
        row.last_checked_at, row.failures, row.passes = state.last_checked_at, state.failures, state.passes
        if result is not None:
            row.last_value, row.last_detail, row.last_link = result.value, result.detail, result.link
        if t.resolved is not None:
            self._alert_row(server_id, t.resolved)
        row.alert = self._alert_row(server_id, state.alert) if state.alert is not None else None
