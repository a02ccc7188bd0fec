"""Certificate renewal, daily from rq cron: playbooks/renew_certificates.yml for every tenant with
active servers, as system runs (jobs.periodic). The letsencrypt role decides per certificate:
it orders only when fewer than 30 days remain, so a daily run is a no-op most days."""

from __future__ import annotations

from jobs.app import worker_app
from jobs.periodic import submit_per_tenant

PLAYBOOK_KEY = "renew_certificates"
RENEW_EVERY = 24 * 3600  # seconds


def enqueue_renewals() -> dict[str, int]:
    """Submit one renewal run per tenant with active servers; returns counts for the job's result."""
    with worker_app().app_context():
        return submit_per_tenant(PLAYBOOK_KEY)
