"""Auto-scaling: a tenant's policy (its rules), and what auto-scaling decided about a server, and
why (shown on its usage page and in the API).

A decision row is written when the decision differs from the server's last one (another action or
target plan), so a recommendation that stands for days is one row, not one per hourly check."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Enum, Float, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models.tenancy import AutoScale
from webapp.models.types import UTCDateTime


class ScaleAction(StrEnum):
    RECOMMENDED = "recommended"  # mode recommend: alerted, nothing ordered
    RESIZED = "resized"  # mode act: the resize run was queued
    HELD = "held"  # mode act, but the cooldown, the budget or a limit stopped it
    SETTLED = "settled"  # the plan fits again: no resize wanted


class ScaleDecision(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "scale_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mode: Mapped[AutoScale] = mapped_column(Enum(AutoScale, native_enum=False, length=16))
    action: Mapped[ScaleAction] = mapped_column(Enum(ScaleAction, native_enum=False, length=16))
    plan: Mapped[str | None] = mapped_column(String(120))  # the target plan's name
    change: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))  # dollars a month, + for more
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))


class AutoScalePolicy(db.Model):  # type: ignore[name-defined,misc]
    """A tenant's auto-scaling rules, set by an administrator (webapp.services.autoscale): when a
    server should grow, how far it may grow and what the tenant may spend after, and how long
    after a resize the next may be ordered. A tenant without one follows the defaults."""

    __tablename__ = "autoscale_policies"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    cpu_p95_pct: Mapped[float] = mapped_column(Float)  # grow above this 95th percentile CPU
    mem_p99_pct: Mapped[float] = mapped_column(Float)  # ... or this 99th percentile memory
    disk_full_days: Mapped[float] = mapped_column(Float)  # ... or when the disk fills within this
    max_plan: Mapped[str | None] = mapped_column(String(120))  # the largest plan it may order; None: any
    max_monthly_spend: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))  # run rate after; None: no cap
    cooldown_hours: Mapped[float] = mapped_column(Float)  # since the server's last resize
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
