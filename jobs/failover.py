"""Failover on a schedule: rq cron asks every FAILOVER_CHECK_EVERY seconds which servers are down
beyond MAILFLEET_FAILOVER_AFTER_MINUTES and offers or starts their recovery
(webapp.services.failover)."""

from __future__ import annotations

from jobs.app import worker_app
from webapp.services import failover

FAILOVER_CHECK_EVERY = 300  # seconds: the health sweep's alerts change no faster than this


def check_failover() -> dict[str, int]:
    """Offer or start the recovery of each server down beyond the threshold; counts for the result."""
    with worker_app().app_context():
        return failover.sweep()
