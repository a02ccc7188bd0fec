"""Sending reputation: each server IP's warm-up plan, caps per domain and per mailbox, the caps of a
critically listed server without a plan (all enforced by the server's Postfix), and each server's
message counts per day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.types import UTCDateTime


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


class SendingCap(db.Model):  # type: ignore[name-defined,misc]
    """A daily (and optional hourly) cap for one of a server's domains or mailboxes, on top of the
    IP's warm-up caps (Mailu itself offers only one limit for every user)."""

    __tablename__ = "sending_caps"
    __table_args__ = (UniqueConstraint("server_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "domain" or "mailbox"
    name: Mapped[str] = mapped_column(String(254))  # the domain, or the mailbox's address
    daily: Mapped[int] = mapped_column()
    hourly: Mapped[int | None] = mapped_column()


class ListingHold(db.Model):  # type: ignore[name-defined,misc]
    """A server without a warm-up plan that a blocklist critically lists: its IP is held to these caps
    (mailfleet.warmup.listed_caps of its `usual_daily` sent before the listing) until the alerts of
    the listings in `checks` (dnsbl:<zone>:<address> check names) have resolved."""

    __tablename__ = "listing_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), unique=True)
    daily: Mapped[int] = mapped_column()
    hourly: Mapped[int] = mapped_column()
    usual_daily: Mapped[int] = mapped_column()  # the median day sent before the listing; 0: none counted
    checks: Mapped[list[str]] = mapped_column(JSON)
    since: Mapped[datetime] = mapped_column(UTCDateTime)

    server: Mapped[Server] = relationship()


class MailCount(db.Model):  # type: ignore[name-defined,misc]
    """One server's message counts for one UTC day, as its Postfix logged them (the facts run's
    `mail` section, refreshed by every health sweep until the day ends). Sent, deferred and bounced
    are delivery attempts out, received are deliveries into mailboxes, rejected are messages refused
    on the way in; reputation deferrals are deferrals whose receiver named the IP's reputation or
    rate. `groups`: the outbound counts per receiver group {"gmail": {"sent", "deferred", "bounced",
    "reputation_deferrals"}, ...}; `senders`: the outbound counts of the day's busiest senders (the
    mailbox that logged in to submit, else the envelope sender) {"a@b.test": {"sent", "deferred",
    "bounced"}, ...}."""

    __tablename__ = "mail_counts"
    __table_args__ = (UniqueConstraint("server_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    sent: Mapped[int] = mapped_column(default=0)
    received: Mapped[int] = mapped_column(default=0)
    deferred: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    reputation_deferrals: Mapped[int] = mapped_column(default=0)
    groups: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    senders: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict, server_default="{}")
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IpChange(db.Model):  # type: ignore[name-defined,misc]
    """A server's main IP changed from `old_ip` to `new_ip`: by its IP-switch run (`run_id`), or
    seen by the inventory refresh (no run). The server's address history, newest last."""

    __tablename__ = "ip_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    old_ip: Mapped[str] = mapped_column(String(45))
    new_ip: Mapped[str] = mapped_column(String(45))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
