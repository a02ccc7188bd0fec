"""How long setting a tenant up took, kept row by row for its charts, its API and /metrics.

`MailboxAttempt`: one row per mailbox asked of the tenant's Mailu, created or not: how long
Mailu took to answer for it and, when it was not created, the short reason. Never a password.

`DnsPropagation`: one row per publication of a domain's records (the run that published them):
the time its DNS first agreed everywhere afterwards, and the seconds between. A publication
followed by another before it was ready never gets a ready time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models.fleet import Domain
from webapp.models.types import UTCDateTime


class AttemptResult(StrEnum):
    CREATED = "created"
    FAILED = "failed"  # Mailu answered, and refused it
    NOT_SENT = "not_sent"  # Mailu could not be reached, or the batch stopped before it


class MailboxAttempt(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "mailbox_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    # None once the domain is removed: the attempt still counts in the tenant's figures
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    result: Mapped[AttemptResult] = mapped_column(Enum(AttemptResult, native_enum=False, length=16))
    # Mailu's answer time for this mailbox; None: not sent
    seconds: Mapped[float | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(255))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DnsPropagation(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "dns_propagations"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    # the run that published the records (None: published otherwise, or the run is gone)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[int | None] = mapped_column()

    domain: Mapped[Domain] = relationship()
