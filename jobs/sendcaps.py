"""Sending caps, daily from rq cron: playbooks/sendcap.yml for every tenant with active servers, as
system runs (jobs.periodic), so each server's Postfix enforces the caps of its new warm-up day."""

from __future__ import annotations

from jobs.app import worker_app
from jobs.periodic import submit_per_tenant

PLAYBOOK_KEY = "sendcap"
SENDCAPS_EVERY = 24 * 3600  # seconds


def enqueue_sendcaps() -> dict[str, int]:
    """Submit one sendcap run per tenant with active servers; returns counts for the job's result."""
    with worker_app().app_context():
        return submit_per_tenant(PLAYBOOK_KEY)
