"""Tenants, the people who log in, and failed logins (for rate limiting)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from mailfleet.regions import Region
from webapp.extensions import db
from webapp.models.types import UTCDateTime


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    # A member who manages domains and mailboxes: never orders a server, and never takes one (or a
    # domain) away, which would stop mail for everyone on it.
    MAILBOX_MANAGER = "mailbox_manager"

    @property
    def may_spend(self) -> bool:
        return self is not Role.MAILBOX_MANAGER

    @property
    def may_remove(self) -> bool:
        """Deprovision a server or remove a mail domain."""
        return self is not Role.MAILBOX_MANAGER


class AutoScale(StrEnum):
    """What the hourly capacity check does with a server's resize recommendation."""

    OFF = "off"
    RECOMMEND = "recommend"  # raise it as an alert
    ACT = "act"  # order the resize itself (cooldown, budget guard), and alert that it did


class Tenant(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # Limits an administrator sets on what the tenant's people may order; None: no limit.
    max_servers: Mapped[int | None] = mapped_column()
    max_monthly_spend: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # What the tenant means to spend a month; crossing its thresholds alerts (check "budget").
    monthly_budget: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # Where the tenant's new servers go when the order names a region but no location, or neither.
    home_region: Mapped[Region | None] = mapped_column(Enum(Region, native_enum=False, length=8))
    # Auto-scaling of the tenant's servers (each server may override it).
    autoscale: Mapped[AutoScale] = mapped_column(
        Enum(AutoScale, native_enum=False, length=16), default=AutoScale.OFF, server_default="OFF"
    )
    # Failover: a server down beyond the threshold is recovered onto a new one without asking.
    failover_auto: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="tenant")

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    # Admins belong to no tenant; members to exactly one.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    # Only a SHA-256 of the API token is kept; the token is shown once when issued.
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    api_token_hint: Mapped[str | None] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the id kept in the session cookie: raising it (logout, new password) makes every
    # cookie issued before, copies included, log nobody in.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant | None] = relationship(back_populates="users")

    def get_id(self) -> str:  # Flask-Login: what the session keeps
        return f"{self.id}:{self.session_generation}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class LoginFailure(db.Model):  # type: ignore[name-defined,misc]
    """One failed login; counted per account and per client address inside a time window."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_addr_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
