"""What auto-scaling decided about a server, and why (shown on its usage page and in the API).

A row is written when the decision differs from the server's last one (another action or target
plan), so a recommendation that stands for days is one row, not one per hourly check."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Numeric, String, Text
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
