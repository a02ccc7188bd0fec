"""Each server's backup status as its host last reported it (the backup role's status document,
collected by the health-facts play and stored by the health sweep)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.fleet import Server
from webapp.models.types import UTCDateTime


class ServerBackup(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "server_backups"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), primary_key=True)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the host reported it
    status: Mapped[dict[str, Any]] = mapped_column(JSON)  # record_status.py's document, as reported

    server: Mapped[Server] = relationship()
