"""Sending reputation of a server's IP: its warm-up plan (the caps Postfix enforces on the server)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.types import UTCDateTime, utcnow


class WarmupPlan(db.Model):  # type: ignore[name-defined,misc]
    """One per server (its main IP sends its mail): a built-in curve or a custom table of steps."""

    __tablename__ = "warmup_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), unique=True)
    curve: Mapped[str] = mapped_column(String(16))  # a name of mailfleet.warmup.CURVES, or "custom"
    # Custom plans only: [{"day", "daily", "hourly"}, ...] as mailfleet.warmup.custom_table accepts.
    steps: Mapped[list[dict[str, int]] | None] = mapped_column(JSON)
    started_on: Mapped[date] = mapped_column(Date)  # warm-up day 1
    held_days: Mapped[int] = mapped_column(default=0)  # days a back-off held the ramp
    backoff_until: Mapped[date | None] = mapped_column(Date)
    backoff_factor: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    server: Mapped[Server] = relationship()
