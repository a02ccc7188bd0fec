"""Usage history and costs, from rq cron (jobs.cron).

``sample_usage`` (every 5 minutes) writes one usage sample per active server from the inside facts
documents the facts play leaves in MAILFLEET_HEALTH_FACTS_DIR, the provider's instances (bandwidth
used of the plan's allowance), the mailbox counts and each server's Mailu (the mail stored, per
mailbox), and keeps the price history in line with the servers. The provider or a Mailu being
unreachable costs the figures it would have given to that sample, nothing more.

``rollup_usage`` (hourly) builds the hourly and daily rollups, prunes what is past its retention
(webapp.services.usage), and checks every tenant's budget, every server's disk-full forecast
(webapp.services.capacity) and every tenant's last hour against its usual
(webapp.services.anomalies) through the health alert engine, whose notifications go to the
monitoring's channels; then auto-scaling (webapp.services.autoscale) alerts or orders the resizes
the servers' modes ask for.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs.app import worker_app
from mailfleet.clock import utcnow
from mailfleet.monitoring import deliver_with_retry, record_results
from mailfleet.settings import Settings
from webapp.integrations import alert_router, provider_client, providers
from webapp.models import SqlHealthStore
from webapp.models.usage import DAY, HOUR
from webapp.services import anomalies, autoscale, capacity, costs, usage

log = logging.getLogger(__name__)

SAMPLE_EVERY = 300
ROLLUP_EVERY = 3600


def _instances() -> list[dict[str, Any]]:
    """Every provider's server records (bandwidth used of the plan's allowance)."""
    records: list[dict[str, Any]] = []
    for name in providers():
        try:
            records.extend(provider_client(name).servers())
        except Exception as exc:  # noqa: BLE001 - a sample without bandwidth beats no sample
            log.warning("bandwidth not sampled, %s did not answer: %s", name, type(exc).__name__)
    return records


def sample_usage() -> dict[str, int]:
    app = worker_app()
    with app.app_context():
        now = utcnow()
        stored = usage.mailbox_storage(usage.active_servers())
        written = usage.record_samples(now, Settings()["MAILFLEET_HEALTH_FACTS_DIR"], _instances(), stored)
        return {"samples": written, "cost_periods_changed": costs.sync_periods(now)}


def rollup_usage() -> dict[str, int]:
    app = worker_app()
    with app.app_context():
        now = utcnow()
        summary = {
            "hourly": usage.rollup(HOUR, now),
            "daily": usage.rollup(DAY, now),
            "pruned": usage.prune(now),
        }
        checks = costs.budget_results(now) + capacity.forecast_results(now) + anomalies.anomaly_results(now)
        checks += autoscale.autoscale_results(now)
        notes = record_results(SqlHealthStore(), checks, costs.BUDGET_POLICY)
        if notes:
            deliver_with_retry(alert_router(app), notes)
        summary["notifications"] = len(notes)
        return summary
