"""Usage history and cost history.

`UsageSample`: one row per server, resolution (`step` seconds) and bucket start (`ts`, epoch
seconds), figures as small integers (see mailfleet.usage). 5-minute rows come from the sampler;
hourly and daily rows are rollups of them (averages, CPU also as its peak); `samples` counts the
5-minute samples a row stands for. Retention: see webapp.services.usage.

`UsageTotal`: the same buckets summed over the whole fleet (`tenant_id` 0) and over each tenant's
servers, written with the rows they sum (the sampler and the rollups), so a fleet or tenant chart
reads one row per bucket instead of one per server and bucket.

`MailboxUsage`: the mail each mailbox holds (bytes, as its server's Mailu reports the quota used),
the latest sample only.

`CostPeriod`: the price history of each server, never overwritten. A new row starts whenever a
server's tenant, plan or monthly price changes; the old one gets its end. Month-to-date costs,
projections and history are computed from these rows (mailfleet.costs).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.types import UTCDateTime

#: The resolutions kept, in seconds.
FIVE_MINUTES, HOUR, DAY = 300, 3600, 86400


class UsageSample(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "usage_samples"

    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    step: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    samples: Mapped[int] = mapped_column(SmallInteger, default=1)
    cpu_pct: Mapped[int | None] = mapped_column(SmallInteger)
    cpu_peak_pct: Mapped[int | None] = mapped_column(SmallInteger)
    mem_used_mb: Mapped[int | None] = mapped_column(Integer)
    mem_total_mb: Mapped[int | None] = mapped_column(Integer)
    disk_used_mb: Mapped[int | None] = mapped_column(Integer)
    disk_total_mb: Mapped[int | None] = mapped_column(Integer)
    bw_used_gb: Mapped[int | None] = mapped_column(Integer)
    bw_total_gb: Mapped[int | None] = mapped_column(Integer)
    queue_deferred: Mapped[int | None] = mapped_column(Integer)
    queue_active: Mapped[int | None] = mapped_column(Integer)
    mailboxes: Mapped[int | None] = mapped_column(Integer)
    mailbox_mb: Mapped[int | None] = mapped_column(Integer)


class UsageTotal(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "usage_totals"

    #: 0: the whole fleet; otherwise the tenant whose servers were summed (its servers at the time).
    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    step: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    servers: Mapped[int] = mapped_column(Integer)
    cpu_pct: Mapped[int | None] = mapped_column(SmallInteger)  # the average over the servers
    # The rest: sums over the servers.
    mem_used_mb: Mapped[int | None] = mapped_column(BigInteger)
    disk_used_mb: Mapped[int | None] = mapped_column(BigInteger)
    disk_total_mb: Mapped[int | None] = mapped_column(BigInteger)
    bw_used_gb: Mapped[int | None] = mapped_column(BigInteger)
    queue_deferred: Mapped[int | None] = mapped_column(BigInteger)
    mailboxes: Mapped[int | None] = mapped_column(BigInteger)
    mailbox_mb: Mapped[int | None] = mapped_column(BigInteger)


class MailboxUsage(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "mailbox_usage"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CostPeriod(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "cost_periods"
    __table_args__ = (Index("ix_cost_periods_tenant_end", "tenant_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    # None: the server was not assigned to a tenant then (its cost shows as unassigned).
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    plan: Mapped[str | None] = mapped_column(String(120))
    monthly_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    server: Mapped[Server] = relationship()
