"""Playbook runs, their events (AWX's fields) and the per tenant+playbook lock."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models.tenancy import Tenant, User
from webapp.models.types import UTCDateTime
from webapp.queue import RUN_JOB


class RunStatus(StrEnum):
    QUEUED = "queued"  # row written, job in RQ
    WAITING = "waiting"  # another run of the same tenant+playbook holds the lock
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES

    @property
    def active(self) -> bool:
        return not self.finished


FINISHED_STATUSES = frozenset({RunStatus.SUCCESSFUL, RunStatus.FAILED, RunStatus.CANCELED})


class RunTrigger(StrEnum):
    """Who started a run: a person (web, API, CLI) or the scheduler (a system run)."""

    USER = "user"
    SCHEDULE = "schedule"


class Run(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_tenant_playbook_status", "tenant_id", "playbook", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    playbook: Mapped[str] = mapped_column(String(120))
    # The catalogue entry the run was submitted as (several entries may share a playbook file).
    catalogue_key: Mapped[str | None] = mapped_column(String(40))
    trigger: Mapped[RunTrigger] = mapped_column(
        Enum(RunTrigger, native_enum=False, length=16), default=RunTrigger.USER, index=True
    )
    limit: Mapped[str | None] = mapped_column(String(255))
    # Written by the services layer from validated fields only; never a secret.
    extravars: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[RunStatus] = mapped_column(
        Enum(RunStatus, native_enum=False, length=16), default=RunStatus.QUEUED, index=True
    )
    rc: Mapped[int | None] = mapped_column()
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    # Per host: ok, changed, failed, unreachable, skipped, rescued, ignored (from playbook_on_stats).
    recap: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    event_count: Mapped[int] = mapped_column(default=0)
    # A client-chosen key: the same form or API call submitted twice yields one run.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    # The run whose success submitted this one, in a chain of steps (a recovery); a retry keeps it.
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # Who runs it: the work-horse PID, the ansible session leader's PID and the lease they renew.
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column()
    child_pid: Mapped[int | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship()
    created_by: Mapped[User | None] = relationship()

    @property
    def job_id(self) -> str:
        """The RQ job id: derived from the run, so the reaper can find (or re-create) it."""
        return RUN_JOB.job_id(self.id)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()


class RunEvent(db.Model):  # type: ignore[name-defined,misc]
    """One ansible-runner event (AWX's JobEvent fields); event_data is redacted before insert."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "counter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    counter: Mapped[int] = mapped_column()
    event: Mapped[str] = mapped_column(String(64))
    uuid: Mapped[str | None] = mapped_column(String(36))
    parent_uuid: Mapped[str | None] = mapped_column(String(36))
    host_name: Mapped[str | None] = mapped_column(String(253), index=True)
    playbook: Mapped[str | None] = mapped_column(String(255))
    play: Mapped[str | None] = mapped_column(String(1024))
    role: Mapped[str | None] = mapped_column(String(1024))
    task: Mapped[str | None] = mapped_column(String(1024))
    failed: Mapped[bool] = mapped_column(default=False)
    changed: Mapped[bool] = mapped_column(default=False)
    stdout: Mapped[str] = mapped_column(Text, default="")
    start_line: Mapped[int] = mapped_column(default=0)
    end_line: Mapped[int] = mapped_column(default=0)
    verbosity: Mapped[int] = mapped_column(default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RunLock(db.Model):  # type: ignore[name-defined,misc]
    """Held while a run executes: the primary key makes it one run per tenant+playbook, on any DB."""

    __tablename__ = "run_locks"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    playbook: Mapped[str] = mapped_column(String(120), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), unique=True)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship()
