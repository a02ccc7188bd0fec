"""Playbook runs the scheduler submits on its own: one per tenant with active servers.

Each run goes through the same path as every other run (Run row, RQ job, execute_run, the runner
bridge with the tenant's own inventory and SSH key), submitted as Scope.system() so it is labelled
a system run (trigger "schedule"). The limit lists the tenant's active servers with an address by
name (the playbooks target ``all`` and the controller must not be one of their hosts); a tenant
whose limit would not fit one Run row gets several runs, which its tenant+playbook lock
serialises. A tenant that still has an unfinished run of the playbook gets no new one, so a slow
round never piles up.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from webapp import playbooks
from webapp.extensions import db
from webapp.models import Run, RunStatus, Server, ServerStatus, Tenant
from webapp.services import runs
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

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


def submit_per_tenant(
    playbook_key: str, extravars: dict[str, Any] | None = None, *, tenant_ids: set[int] | None = None
) -> dict[str, int]:
    """Submit `playbook_key` for every tenant with active servers (or only those of `tenant_ids`);
    returns counts for the job's result."""
    playbook = playbooks.CATALOGUE[playbook_key]
    scope = Scope.system()
    servers = db.session.execute(
        select(Server.tenant_id, Server.name)
        .where(
            Server.tenant_id.is_not(None),
            Server.status == ServerStatus.ACTIVE,
            Server.public_ipv4.is_not(None),
            Server.drill_of_id.is_(None),  # a restore drill's throwaway server: its own runs only
        )
        .order_by(Server.tenant_id, Server.name)
    ).tuples()
    by_tenant: dict[int, list[str]] = {}
    for tenant_id, name in servers:
        assert tenant_id is not None  # the query keeps servers with a tenant
        by_tenant.setdefault(tenant_id, []).append(name)
    busy = set(
        db.session.execute(
            select(Run.tenant_id).where(
                Run.catalogue_key == playbook.key,
                Run.status.in_([RunStatus.QUEUED, RunStatus.WAITING, RunStatus.RUNNING]),
            )
        ).scalars()
    )
    counts = {"tenants": 0, "runs": 0, "skipped_busy": 0}
    for tenant_id, names in by_tenant.items():
        if tenant_ids is not None and tenant_id not in tenant_ids:
            continue
        if tenant_id in busy:
            counts["skipped_busy"] += 1
            continue
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None:  # removed since its servers were listed
            continue
        counts["tenants"] += 1
        for limit in limits(names):
            runs.submit_run(scope, tenant, playbook.key, extravars=extravars, limit=limit)
            counts["runs"] += 1
    log.info("%s: %s", playbook.key, counts)
    return counts
