"""Unusual usage per tenant, recorded by the hourly usage job as the check
``anomaly:<tenant>:<figure>`` through the health alert engine: unusual is a warning, back within
the usual resolves it. Every figure is judged by the one detector (mailfleet.usage.anomaly: median
and median absolute deviation of its baseline):

- each figure of HOURLY, of a tenant's last finished hour (summed over its servers), against the
  same hour of the past BASELINE_DAYS days (usage_totals);
- the messages its servers sent today so far (mail_counts) against each of the past BASELINE_DAYS
  whole days, so a burst (a mailbox sending spam, say) is unusual as soon as today has gone past
  what a usual day sends; the alert then names the tenant's busiest senders today (the facts run's
  per-sender counts), the first place to look for a compromised mailbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from mailfleet.monitoring import CheckResult, Status
from mailfleet.usage import MIN_BASELINE, anomaly
from webapp.extensions import db
from webapp.models import Tenant
from webapp.models.health import MONITORING_SERVER
from webapp.models.usage import DAY, HOUR, UsageTotal
from webapp.services import mailstats
from webapp.services.usage import ROLLUP_DELAY

BASELINE_DAYS = 14
#: The hourly figures watched, each with the smallest rise that counts (whatever the spread).
HOURLY = {
    "queue_deferred": ("deferred messages in the mail queue", 20),
    "cpu_pct": ("% CPU on average", 20),
}
SENT = ("sent", "messages sent", 200)  # figure, label, smallest rise that counts
TOP_SENDERS = 3  # named in a sending burst's alert


def last_hour(now: datetime) -> int:
    """The start of the last hour the hourly rollup has built."""
    return (int(now.timestamp()) - ROLLUP_DELAY) // HOUR * HOUR - HOUR


def _judge(
    slug: str,
    figure: str,
    label: str,
    value: float,
    past: Sequence[float],
    min_excess: float,
    when: tuple[str, str],
    now: datetime,
) -> CheckResult:
    """The check of one figure of one tenant: `value` against `past`; `when` says when the value
    was and the baseline's values were (e.g. "at 13:00 UTC", "at that hour")."""
    found = anomaly(float(value), past, min_excess=min_excess)
    if found.median is None:
        detail = f"{slug}: {value:g} {label} {when[0]}; {len(past)} of {MIN_BASELINE} days of baseline so far"
    else:
        usual = f"usually {found.median:g} {when[1]} (spread {found.spread:g}, {len(past)} days)"
        detail = f"{slug}: {value:g} {label} {when[0]}, {usual}"
    status = Status.WARNING if found.unusual else Status.OK
    return CheckResult(MONITORING_SERVER, f"anomaly:{slug}:{figure}", status, value, detail, now)


def _hourly(now: datetime) -> list[CheckResult]:
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
    when = (f"at {datetime.fromtimestamp(hour, UTC):%H:00} UTC", "at that hour")
    out = []
    for slug, totals in sorted(by_tenant.items()):
        current = totals.get(hour)
        if current is None:
            continue
        for name, (label, min_excess) in HOURLY.items():
            value = getattr(current, name)
            if value is None:
                continue
            past = [
                float(v) for ts, t in totals.items() if ts != hour and (v := getattr(t, name)) is not None
            ]
            out.append(_judge(slug, name, label, value, past, min_excess, when, now))
    return out


def _sent(now: datetime) -> list[CheckResult]:
    today = now.date()
    days = [today - timedelta(days=n) for n in range(BASELINE_DAYS + 1)]
    figure, label, min_excess = SENT
    out = []
    for slug, counts in sorted(mailstats.sent_by_tenant(days).items()):
        if today not in counts:
            continue
        past = [float(sent) for day, sent in counts.items() if day != today]
        found = _judge(slug, figure, label, counts[today], past, min_excess, ("today so far", "a day"), now)
        if found.status is Status.WARNING:
            found = replace(found, detail=found.detail + _senders(slug, today))
        out.append(found)
    return out


def _senders(slug: str, day: date) -> str:
    busiest = mailstats.tenant_top_senders(slug, day, TOP_SENDERS)
    if not busiest:
        return "; no per-sender counts yet"
    named = ", ".join(
        f"{s['sender']} ({s['sent']} sent, {s['deferred']} deferred, {s['bounced']} bounced)" for s in busiest
    )
    return f"; top senders today: {named}"


def anomaly_results(now: datetime) -> list[CheckResult]:
    """One result per watched figure of every tenant with a value for it now."""
    return _hourly(now) + _sent(now)
