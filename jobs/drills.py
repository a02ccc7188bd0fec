"""Restore drills on a schedule: rq cron asks every DRILL_CHECK_EVERY seconds, and every tenant whose
last drill run is older than MAILFLEET_BACKUP_DRILL_DAYS (30) gets a playbooks/backup_drill.yml
system run on its active servers (jobs.periodic). A tenant whose hosts have not yet reported a
successful backup is not due: there is no snapshot to drill, and a new server's first drill would
fail and alert within hours of its order (its overdue backup alerts on its own, check ``backup``). A
drill's outcome is recorded on each host and reaches the health check ``backup:drill`` with the next
facts collection; a failed one alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from jobs.app import worker_app
from jobs.periodic import submit_per_tenant
from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Run, Server, ServerBackup

PLAYBOOK_KEY = "backup_drill"
DRILL_CHECK_EVERY = 6 * 3600  # seconds: a restart of the scheduler delays a due drill by at most this


def enqueue_drills() -> dict[str, int]:
    """Submit a drill run for every tenant that is due; returns counts for the job's result."""
    with worker_app().app_context():
        period = timedelta(days=current_app.config["MAILFLEET_BACKUP_DRILL_DAYS"])
        return submit_per_tenant(PLAYBOOK_KEY, tenant_ids=due_tenants(period, utcnow()))


def due_tenants(period: timedelta, now: datetime) -> set[int]:
    """Tenants with a backup to drill (a host reported a successful one) and no drill run (of any
    outcome) since `now - period`."""
    last: dict[int | None, datetime] = dict(
        db.session.execute(
            select(Run.tenant_id, func.max(Run.created_at))
            .where(Run.catalogue_key == PLAYBOOK_KEY)
            .group_by(Run.tenant_id)
        ).tuples().all()
    )
    cutoff = now - period
    due = set()
    for tenant_id in _backed_up_tenants():
        when = last.get(tenant_id)
        if when is None or when <= cutoff:
            due.add(tenant_id)
    return due


def _backed_up_tenants() -> set[int]:
    """Tenants with a server whose host reported a successful backup (``last_success``)."""
    reported = db.session.execute(
        select(Server.tenant_id, ServerBackup.status).join(ServerBackup, ServerBackup.server_id == Server.id)
    ).tuples()
    return {tenant for tenant, status in reported if tenant is not None and status.get("last_success")}
