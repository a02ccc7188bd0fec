"""Fleet rollouts: one catalogue playbook across the servers of many tenants, a server per run,
at most a set number of runs in flight, stopped once too many failed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.runs import Run
from webapp.models.tenancy import Tenant, User
from webapp.models.types import UTCDateTime


class RolloutStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # every server's run ended, failures within the threshold
    STOPPED = "stopped"  # failures passed the threshold, or a person stopped it

    @property
    def finished(self) -> bool:
        return self != RolloutStatus.RUNNING


class Rollout(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    catalogue_key: Mapped[str] = mapped_column(String(40))
    # As it was asked for ("25%" or "3"), and the number of runs in flight it came to.
    share: Mapped[str] = mapped_column(String(8))
    in_flight: Mapped[int] = mapped_column()
    # Stop once more than this percentage of all its servers failed (0: at the first failure).
    failure_threshold: Mapped[int] = mapped_column()
    status: Mapped[RolloutStatus] = mapped_column(
        Enum(RolloutStatus, native_enum=False, length=16), default=RolloutStatus.RUNNING, index=True
    )
    stop_reason: Mapped[str | None] = mapped_column(String(255))
    # Bumped by every step: its UPDATE makes concurrent steps (two runs ending at once) take turns.
    revision: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User] = relationship()
    targets: Mapped[list[RolloutTarget]] = relationship(
        back_populates="rollout", order_by="RolloutTarget.position", cascade="all, delete-orphan"
    )


class RolloutTarget(db.Model):  # type: ignore[name-defined,misc]
    """One server of a rollout, in its turn; its run once submitted."""

    __tablename__ = "rollout_targets"
    __table_args__ = (UniqueConstraint("rollout_id", "server_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), unique=True)

    rollout: Mapped[Rollout] = relationship(back_populates="targets")
    server: Mapped[Server] = relationship()
    tenant: Mapped[Tenant] = relationship()
    run: Mapped[Run | None] = relationship()
