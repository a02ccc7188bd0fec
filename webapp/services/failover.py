"""Failover: a server down beyond a threshold is recovered onto a new server in another location,
offered to its tenant's people, or started without asking for a tenant that opted in
(``Tenant.failover_auto``). The recovery itself is webapp.services.recovery's, the same chain as
the recovery page's (DNS moves only after the restored data checked out).

A server is down when every one of its port checks has an open alert opened at least
MAILFLEET_FAILOVER_AFTER_MINUTES ago: one closed port is a broken service, all of them a lost
host. The decision and its reason go on the timeline of the oldest of those alerts: an offer
once per alert; a start once; a start that was refused is tried again on each sweep while the
server stays down, ATTEMPTS times in all. An admin's opt-in or opt-out goes on the timelines of
the tenant's open port alerts too, so an outage's timeline says why it was (or was not) recovered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from mailfleet.clock import utcnow
from mailfleet.monitoring import EventKind
from webapp.errors import InvalidInput, MailfleetWebError
from webapp.extensions import db
from webapp.models import HealthAlert, HealthAlertEvent, HealthCheck, Server, ServerStatus, Tenant
from webapp.services import provider, recovery
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

PORT_CHECK = "port:"
BY = "failover"  # the timeline's author of the decisions recorded here
ATTEMPTS = 3  # sweeps that try a refused start (about 15 minutes); then it is left to people
# How each decision's detail begins: the sweep reads its own earlier decisions back by them.
OFFERED, STARTED, REFUSED = "failover offered", "failover started", "failover could not start"


@dataclass(frozen=True)
class DownServer:
    server: Server
    alert: HealthAlert  # the oldest of its port alerts: where the decision is recorded
    since: datetime

    @property
    def reason(self) -> str:
        return f"every port check of {self.server.name} has failed since {self.since:%Y-%m-%d %H:%M} UTC"


def threshold() -> timedelta:
    return timedelta(minutes=current_app.config["MAILFLEET_FAILOVER_AFTER_MINUTES"])


def down_servers(scope: Scope, tenant: Tenant | None = None, now: datetime | None = None) -> list[DownServer]:
    """The active servers (of `tenant`, or all visible) down beyond the threshold."""
    cutoff = (now or utcnow()) - threshold()
    stmt = scope.restrict(
        select(HealthCheck)
        .join(Server, Server.id == HealthCheck.server_id)
        .where(HealthCheck.check.startswith(PORT_CHECK), Server.status == ServerStatus.ACTIVE)
        .options(joinedload(HealthCheck.alert), joinedload(HealthCheck.server)),
        Server,
    )
    if tenant is not None:
        stmt = stmt.where(Server.tenant_id == tenant.id)
    checks: dict[int, list[HealthCheck]] = {}
    for check in db.session.scalars(stmt).unique():
        checks.setdefault(check.server_id or 0, []).append(check)
    down = []
    for server_checks in checks.values():
        alerts = [c.alert for c in server_checks]
        if all(a is not None and a.resolved_at is None and a.opened_at <= cutoff for a in alerts):
            oldest = min((a for a in alerts if a is not None), key=lambda a: (a.opened_at, a.id))
            down.append(DownServer(server_checks[0].server, oldest, oldest.opened_at))  # type: ignore[arg-type]
    return sorted(down, key=lambda d: d.server.name)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """For each server down beyond the threshold: start its recovery if its tenant opted in (again
    on a later sweep if it was refused, up to ATTEMPTS), else record the offer once. Returns counts
    for the job's result."""
    counts = {"offered": 0, "started": 0, "refused": 0}
    for down in down_servers(Scope.system(), now=now):
        decided = [e.detail for e in down.alert.events if e.kind == EventKind.FAILOVER]
        if any(d.startswith(STARTED) for d in decided):
            continue
        tenant = down.server.tenant
        if tenant is None:  # a server of no tenant: nobody to offer it to, no limits to recover in
            continue
        if not tenant.failover_auto:
            if not any(d.startswith(OFFERED) for d in decided):
                _record(
                    down.alert, f"{OFFERED}: {down.reason}; {tenant.slug} recovers it from the recovery page"
                )
                counts["offered"] += 1
            continue
        attempt = sum(d.startswith(REFUSED) for d in decided) + 1
        if attempt > ATTEMPTS:
            continue
        try:
            run = recovery.start_recovery(
                Scope.system(),
                tenant,
                down.server.id,
                another_location(down.server),
                down.server.plan or "",
                confirmed=True,  # the tenant opted in
            )
        except MailfleetWebError as exc:
            db.session.rollback()
            then = "tried again on the next check" if attempt < ATTEMPTS else "no more attempts"
            _record(down.alert, f"{REFUSED} (attempt {attempt} of {ATTEMPTS}, {then}): {exc}; {down.reason}")
            counts["refused"] += 1
            continue
        _record(down.alert, f"{STARTED}: recovery run {run.id} onto a new server; {down.reason}")
        counts["started"] += 1
    return counts


def another_location(server: Server) -> str:
    """Where the replacement goes: another location the provider offers, in the lost server's
    region when it has one (a data centre down takes its servers with it), at its provider."""
    offers = provider.offers(server.provider)
    others = [name for name in offers.locations if name != server.location]
    near = [name for name in others if offers.region_of(name) is offers.region_of(server.location)]
    if not others:
        raise InvalidInput(f"the provider offers no location other than {server.location} for {server.name}")
    return (near or others)[0]


def set_failover_auto(scope: Scope, tenant: Tenant, on: bool) -> bool:
    """An admin opts the tenant in (or out) of failover without asking: the API's and the web's
    one path. A change is recorded on the timeline of each of the tenant's open port alerts;
    setting what is already set changes nothing. Returns whether it changed."""
    scope.require_admin()
    if tenant.failover_auto is on:
        return False
    tenant.failover_auto = on
    who = getattr(scope.user, "email", None)
    detail = f"failover {'turned on' if on else 'turned off'} for {tenant.slug} by {who or 'the system'}"
    for alert in db.session.scalars(
        select(HealthAlert)
        .join(HealthCheck, HealthCheck.alert_id == HealthAlert.id)
        .join(Server, Server.id == HealthCheck.server_id)
        .where(
            Server.tenant_id == tenant.id,
            HealthCheck.check.startswith(PORT_CHECK),
            HealthAlert.resolved_at.is_(None),
        )
    ):
        _record(alert, detail, by=who, commit=False)
    db.session.commit()
    log.info("%s", detail)
    return True


def _record(alert: HealthAlert, detail: str, *, by: str | None = BY, commit: bool = True) -> None:
    db.session.add(
        HealthAlertEvent(alert_id=alert.id, at=utcnow(), kind=EventKind.FAILOVER, detail=detail, by=by)
    )
    if commit:
        db.session.commit()
        log.warning("%s", detail)
