"""Periodic inside-facts collection: one playbooks/health_facts.yml run per tenant (from rq cron).

Each tenant's run goes through the same path as every other run (Run row, RQ job, execute_run,
the runner bridge with the tenant's own inventory and SSH key): this job only submits. The play
writes <MAILFLEET_HEALTH_FACTS_DIR>/<server name>.json on the controller, which jobs.health's
sweep reads. The limit lists the tenant's active servers by name (health_facts.yml targets
``all``, and the controller must not collect facts about itself); a tenant whose limit would not
fit one Run row gets several runs, which its tenant+playbook lock serialises. A tenant that still
has an unfinished facts run gets no new one, so a slow round never piles up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import select

from jobs.app import worker_app
from webapp import playbooks
from webapp.extensions import db
from webapp.models import Run, RunStatus, Server, ServerStatus, Tenant
from webapp.services import runs
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

PLAYBOOK_KEY = "health_facts"
FACTS_DIR_ENV = "MAILFLEET_HEALTH_FACTS_DIR"
MAX_LIMIT_CHARS = 255  # Run.limit's column size


def limits(names: list[str], max_chars: int = MAX_LIMIT_CHARS) -> list[str]:
    """Comma-joined server names, each string at most max_chars long."""
    out: list[str] = []
    current = ""
    for name in names:
        candidate = f"{current},{name}" if current else name
        if len(candidate) > max_chars and current:
            out.append(current)
            candidate = name
        current = candidate
    if current:
        out.append(current)
    return out


def enqueue_health_facts() -> dict[str, int]:
    """Submit one facts run per tenant with active servers; returns counts for the job's result."""
    facts_dir = os.environ.get(FACTS_DIR_ENV)
    if not facts_dir:
        log.warning("%s is not set: no inside facts are collected", FACTS_DIR_ENV)
        return {"tenants": 0, "runs": 0, "skipped_busy": 0}
    Path(facts_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    app = worker_app()
    with app.app_context():
        return submit_facts_runs(facts_dir)


def submit_facts_runs(facts_dir: str) -> dict[str, int]:
    playbook = playbooks.CATALOGUE[PLAYBOOK_KEY]
    scope = Scope.system()
    servers = db.session.execute(
        select(Server.tenant_id, Server.name)
        .where(
            Server.tenant_id.is_not(None),
            Server.status == ServerStatus.ACTIVE,
            Server.public_ipv4.is_not(None),
        )
        .order_by(Server.tenant_id, Server.name)
    ).tuples()
    by_tenant: dict[int, list[str]] = {}
    for tenant_id, name in servers:
        by_tenant.setdefault(tenant_id, []).append(name)
    busy = set(
        db.session.execute(
            select(Run.tenant_id).where(
                Run.playbook == playbook.filename,
                Run.status.in_([RunStatus.QUEUED, RunStatus.WAITING, RunStatus.RUNNING]),
            )
        ).scalars()
    )
    counts = {"tenants": 0, "runs": 0, "skipped_busy": 0}
    for tenant_id, names in by_tenant.items():
        if tenant_id in busy:
            counts["skipped_busy"] += 1
            continue
        tenant = db.session.get(Tenant, tenant_id)
        counts["tenants"] += 1
        for limit in limits(names):
            runs.submit_run(
                scope, tenant, PLAYBOOK_KEY, extravars={"health_facts_dir": facts_dir}, limit=limit
            )
            counts["runs"] += 1
    log.info("health facts: %s", counts)
    return counts
