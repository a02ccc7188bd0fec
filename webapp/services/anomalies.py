"""Unusual usage per tenant: each figure of a tenant's last finished hour (summed over its servers)
against the same hour of the past BASELINE_DAYS days (mailfleet.usage.anomaly: median and median
absolute deviation), recorded by the hourly usage job as the check ``anomaly:<tenant>:<figure>``
through the health alert engine: unusual is a warning, back within the usual resolves it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from mailfleet.monitoring import CheckResult, Status
from mailfleet.usage import MIN_BASELINE, anomaly
from webapp.extensions import db
from webapp.models import Tenant
from webapp.models.health import MONITORING_SERVER
from webapp.models.usage import DAY, HOUR, UsageTotal
from webapp.services.usage import ROLLUP_DELAY

BASELINE_DAYS = 14
#: The figures watched, each with the smallest rise that counts (whatever the spread).
FIGURES = {
    "queue_deferred": ("deferred messages in the mail queue", 20),
    "cpu_pct": ("% CPU on average", 20),
}


def last_hour(now: datetime) -> int:
    """The start of the last hour the hourly rollup has built."""
    return (int(now.timestamp()) - ROLLUP_DELAY) // HOUR * HOUR - HOUR


def anomaly_results(now: datetime) -> list[CheckResult]:
    """One result per watched figure of every tenant with a total for the last finished hour."""
    hour = last_hour(now)
    moments = [hour - days * DAY for days in range(BASELINE_DAYS + 1)]
    rows = db.session.execute(
        select(Tenant.slug, UsageTotal)
        .join(UsageTotal, UsageTotal.tenant_id == Tenant.id)
        .where(UsageTotal.step == HOUR, UsageTotal.ts.in_(moments))
    ).all()
    by_tenant: dict[str, dict[int, UsageTotal]] = {}
    for slug, total in rows:
        by_tenant.setdefault(slug, {})[total.ts] = total
    at = f"{datetime.fromtimestamp(hour, UTC):%H:00} UTC"
    out = []
    for slug, totals in sorted(by_tenant.items()):
        current = totals.get(hour)
        if current is None:
            continue
        for name, (label, min_excess) in FIGURES.items():
            value = getattr(current, name)
            if value is None:
                continue
            past = [
                float(v) for ts, t in totals.items() if ts != hour and (v := getattr(t, name)) is not None
            ]
            found = anomaly(float(value), past, min_excess=min_excess)
            if found.median is None:
                detail = (
                    f"{slug}: {value} {label} at {at}; {len(past)} of {MIN_BASELINE} days of baseline so far"
                )
            else:
                usual = f"usually {found.median:g} at that hour (spread {found.spread:g}, {len(past)} days)"
                detail = f"{slug}: {value} {label} at {at}, {usual}"
            status = Status.WARNING if found.unusual else Status.OK
            out.append(CheckResult(MONITORING_SERVER, f"anomaly:{slug}:{name}", status, value, detail, now))
    return out
