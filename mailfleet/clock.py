"""The one clock: timezone-aware UTC now (the database, results and alerts all store UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
