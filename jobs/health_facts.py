"""Periodic inside-facts collection: one playbooks/health_facts.yml run per tenant (from rq cron).

The play writes <MAILFLEET_HEALTH_FACTS_DIR>/<server name>.json on the controller, which
jobs.health's sweep reads. How the runs are submitted (system runs, limits, no pile-up):
jobs.periodic.
"""

from __future__ import annotations

import logging

from jobs.app import worker_app
from jobs.periodic import submit_per_tenant
from mailfleet.settings import Settings

log = logging.getLogger(__name__)

PLAYBOOK_KEY = "health_facts"
FACTS_DIR_ENV = "MAILFLEET_HEALTH_FACTS_DIR"


def enqueue_health_facts() -> dict[str, int]:
    """Submit one facts run per tenant with active servers; returns counts for the job's result."""
    facts_dir = Settings()[FACTS_DIR_ENV]
    if facts_dir is None:
        log.warning("%s is not set: no inside facts are collected", FACTS_DIR_ENV)
        return {"tenants": 0, "runs": 0, "skipped_busy": 0}
    facts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    app = worker_app()
    with app.app_context():
        return submit_facts_runs(str(facts_dir))


def submit_facts_runs(facts_dir: str) -> dict[str, int]:
    return submit_per_tenant(PLAYBOOK_KEY, {"health_facts_dir": facts_dir})
