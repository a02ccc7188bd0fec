"""Restore drills on a schedule: rq cron asks every DRILL_CHECK_EVERY seconds, and every tenant whose
last drill is older than MAILFLEET_BACKUP_DRILL_DAYS (30) gets one. A tenant whose hosts have not
yet reported a successful backup is not due: there is no snapshot to drill, and a new server's
first drill would fail and alert within hours of its order (its overdue backup alerts on its own,
check ``backup``).

Where a drill restores is MAILFLEET_BACKUP_DRILL_TARGET:
- ``scratch`` (the default: cheap, nothing ordered): a playbooks/backup_drill.yml system run on the
  tenant's active servers (jobs.periodic), each restoring into a scratch directory of its own. The
  outcome is recorded on each host and reaches the health check ``backup:drill`` with the next
  facts collection;
- ``host``: a drill on a throwaway server for each of those servers (webapp.services.drills): a
  server ordered for the drill, the latest snapshot restored and checked there, the server deleted
  again. Its outcome reaches the same check from the drill's runs.
A failed drill alerts either way."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from jobs.app import worker_app
from jobs.periodic import submit_per_tenant
from mailfleet.clock import utcnow
from webapp.errors import MailfleetWebError
from webapp.extensions import db
from webapp.models import Run, Server, ServerBackup, ServerStatus, Tenant
from webapp.services import drills
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

PLAYBOOK_KEY = "backup_drill"
#: The runs that begin a drill, of either target: a tenant's last one of them dates its last drill.
DRILL_KEYS = (PLAYBOOK_KEY, drills.PROVISION)
DRILL_CHECK_EVERY = 6 * 3600  # seconds: a restart of the scheduler delays a due drill by at most this


def enqueue_drills() -> dict[str, int]:
    """Start a drill for every tenant that is due; returns counts for the job's result."""
    with worker_app().app_context():
        period = timedelta(days=current_app.config["MAILFLEET_BACKUP_DRILL_DAYS"])
        due = due_tenants(period, utcnow())
        if current_app.config["MAILFLEET_BACKUP_DRILL_TARGET"] == "host":
            return start_host_drills(due)
        return submit_per_tenant(PLAYBOOK_KEY, tenant_ids=due)


def start_host_drills(tenant_ids: set[int]) -> dict[str, int]:
    """A drill on a throwaway server for each backed-up active server of these tenants. A server
    that cannot be drilled now (a drill under way, no snapshot known) is logged and counted; the
    others still start."""
    counts = {"tenants": len(tenant_ids), "drills": 0, "refused": 0}
    servers = db.session.scalars(
        select(Server)
        .where(
            Server.tenant_id.in_(tenant_ids),
            Server.status == ServerStatus.ACTIVE,
            Server.drill_of_id.is_(None),
        )
        .order_by(Server.tenant_id, Server.name)
    ).all()
    backed_up = _backed_up_servers()
    for server in servers:
        if server.id not in backed_up:
            continue
        try:
            drills.start_drill(Scope.system(), db.session.get_one(Tenant, server.tenant_id), server.id)
        except MailfleetWebError as exc:
            db.session.rollback()
            log.warning("no restore drill of %s: %s", server.name, exc)
            counts["refused"] += 1
        else:
            counts["drills"] += 1
    return counts


def due_tenants(period: timedelta, now: datetime) -> set[int]:
    """Tenants with a backup to drill (a host reported a successful one) and no drill run (of any
    outcome) since `now - period`."""
    last: dict[int | None, datetime] = dict(
        db.session.execute(
            select(Run.tenant_id, func.max(Run.created_at))
            .where(Run.catalogue_key.in_(DRILL_KEYS), Run.retry_of_id.is_(None))
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
    return set(_backed_up_servers().values())


def _backed_up_servers() -> dict[int, int]:
    """Server id -> tenant id of the servers whose host reported a successful backup."""
    reported = db.session.execute(
        select(Server.id, Server.tenant_id, ServerBackup.status).join(
            ServerBackup, ServerBackup.server_id == Server.id
        )
    ).tuples()
    return {
        server: tenant
        for server, tenant, status in reported
        if tenant is not None and status.get("last_success")
    }
