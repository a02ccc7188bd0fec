"""How long setting a tenant up took: every mailbox creation attempt (its time and result) and
every publication of a domain's records (its time to ready), recorded as they happen and read
back per day for the tenant's charts and its API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import AttemptResult, DnsPropagation, Domain, MailboxAttempt, Run, Tenant
from webapp.services.scope import Scope

CHART_DAYS = 30
MAX_REASON = 255
RECENT_ATTEMPTS = 100


@dataclass(frozen=True)
class Day:
    """One UTC day of a tenant's mailbox creations; the times are those of the created ones."""

    day: date
    attempts: int
    created: int
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def success_rate(self) -> float | None:
        return self.created / self.attempts if self.attempts else None


def record_attempts(
    tenant: Tenant,
    domain: Domain,
    created: Iterable[str],
    failed: Mapping[str, str],
    not_sent: Mapping[str, str],
    seconds: Mapping[str, float],
) -> None:
    """Add one row per mailbox asked for (the caller commits): ``failed`` and ``not_sent`` map an
    address to why; ``seconds`` holds Mailu's answer time of each address it was sent."""
    at = utcnow()
    outcomes: list[tuple[str, AttemptResult, str | None]] = [
        (email, AttemptResult.CREATED, None) for email in created
    ]
    outcomes += [(email, AttemptResult.FAILED, why) for email, why in failed.items()]
    outcomes += [(email, AttemptResult.NOT_SENT, why) for email, why in not_sent.items()]
    for email, result, why in outcomes:
        db.session.add(MailboxAttempt(
            tenant_id=tenant.id, domain_id=domain.id, email=email, result=result,
            seconds=seconds.get(email), reason=why[:MAX_REASON] if why else None, attempted_at=at,
        ))


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def days(scope: Scope, tenant: Tenant, last: date, count: int = CHART_DAYS) -> list[Day]:
    """The ``count`` UTC days up to ``last``, each one's mailboxes asked for, created, and the
    median and 95th percentile of the created ones' times."""
    first = last - timedelta(days=count - 1)
    since = datetime.combine(first, time(), tzinfo=utcnow().tzinfo)
    columns = select(MailboxAttempt.attempted_at, MailboxAttempt.result, MailboxAttempt.seconds)
    rows = db.session.execute(scope.restrict(columns, MailboxAttempt).where(
        MailboxAttempt.tenant_id == tenant.id, MailboxAttempt.attempted_at >= since
    ))
    asked: dict[date, int] = {}
    times: dict[date, list[float]] = {}
    created: dict[date, int] = {}
    for at, result, seconds in rows:
        day = at.date()
        asked[day] = asked.get(day, 0) + 1
        if result == AttemptResult.CREATED:
            created[day] = created.get(day, 0) + 1
            if seconds is not None:
                times.setdefault(day, []).append(seconds)
    out = []
    for day in (first + timedelta(days=n) for n in range(count)):
        taken = times.get(day, [])
        out.append(Day(day, asked.get(day, 0), created.get(day, 0),
                       percentile(taken, 0.5), percentile(taken, 0.95)))
    return out


def recent_attempts(scope: Scope, tenant: Tenant, limit: int = RECENT_ATTEMPTS) -> list[MailboxAttempt]:
    """The tenant's last attempts, newest first."""
    return list(db.session.scalars(
        scope.select(MailboxAttempt).where(MailboxAttempt.tenant_id == tenant.id)
        .order_by(MailboxAttempt.attempted_at.desc(), MailboxAttempt.id.desc()).limit(limit)
    ))


# --- DNS propagation ---------------------------------------------------------------------------------
def note_published(domain: Domain, at: datetime, run: Run | None) -> None:
    """A publication of the domain's records starts its timing (the caller commits)."""
    db.session.add(DnsPropagation(tenant_id=domain.tenant_id, domain_id=domain.id,
                                  run_id=run.id if run is not None else None, published_at=at))


def note_ready(domain: Domain, at: datetime) -> None:
    """The domain's DNS agreed everywhere: its latest publication not ready yet is, from ``at``."""
    if domain.dns_changed_at is None:
        return
    seconds = max(int((at - domain.dns_changed_at).total_seconds()), 0)
    db.session.execute(
        update(DnsPropagation)
        .where(DnsPropagation.domain_id == domain.id, DnsPropagation.published_at == domain.dns_changed_at,
               DnsPropagation.ready_at.is_(None))
        .values(ready_at=at, seconds=seconds)
    )


def propagations(scope: Scope, tenant: Tenant, since: datetime | None = None,
                 domain: Domain | None = None) -> list[DnsPropagation]:
    """The tenant's publications (of one domain), oldest first; ``since``: published since then."""
    stmt = scope.select(DnsPropagation).where(DnsPropagation.tenant_id == tenant.id)
    if since is not None:
        stmt = stmt.where(DnsPropagation.published_at >= since)
    if domain is not None:
        stmt = stmt.where(DnsPropagation.domain_id == domain.id)
    return list(db.session.scalars(stmt.order_by(DnsPropagation.published_at, DnsPropagation.id)))
