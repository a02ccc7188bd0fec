"""Message counts per server and UTC day (table mail_counts), from the `mail` section of each
server's facts document (playbooks/health_facts.yml), stored by every health sweep; and what they
feed: a server with a warm-up plan whose receivers defer for reputation backs off
(webapp.services.warmup.react_to_deferrals), reported as its `warmup` check; the cost per 1,000
messages sent and the sent-volume anomaly read them through :func:`sent_by_server` and
:func:`sent_by_tenant`, a new tenant's "send a test message" step through :func:`messages_since`,
a server's usage page and API its busiest senders through :func:`top_senders`, the sent-volume
anomaly's alert a tenant's through :func:`tenant_top_senders`, and its warm-up page's chart of sent
mail against the plan's cap through :func:`recent_days`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailfleet.monitoring import CheckResult, FactsError
from mailfleet.monitoring.facts import parse_facts
from webapp.extensions import db
from webapp.models import MailCount, Server, Tenant
from webapp.services import warmup

log = logging.getLogger(__name__)

COUNTS = ("sent", "received", "deferred", "bounced", "rejected", "reputation_deferrals")
GROUP_COUNTS = ("sent", "deferred", "bounced", "reputation_deferrals")
SENDER_COUNTS = ("sent", "deferred", "bounced")
MAX_SENDERS = 50  # the facts run keeps the day's 50 busiest (playbooks/files/mail_facts.py)


class CountsError(ValueError):
    """A `mail` section that is not what playbooks/files/mail_facts.py writes."""


def _count(section: Mapping[str, Any], key: str, where: str) -> int:
    value = section.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CountsError(f"{where}.{key} must be a whole number >= 0, not {value!r}")
    return value


PerName = dict[str, dict[str, int]]


def _per_name(section: Mapping[str, Any], key: str, counts: tuple[str, ...], width: int) -> PerName:
    """{name: {count: n}} from the section's `key` object (absent: empty); CountsError if malformed."""
    raw = section.get(key) or {}
    if not isinstance(raw, Mapping):
        raise CountsError(f"mail.{key} must be a JSON object")
    found = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise CountsError(f"mail.{key}.{name} must be a JSON object")
        found[str(name)[:width]] = {count: _count(entry, count, f"mail.{key}.{name}") for count in counts}
    return found


def parse_mail(section: Any) -> tuple[date, dict[str, int], PerName, PerName]:
    """(day, counts, groups, senders) from a facts document's `mail` section; CountsError if
    malformed."""
    if not isinstance(section, Mapping):
        raise CountsError("mail must be a JSON object")
    try:
        day = date.fromisoformat(str(section.get("day")))
    except ValueError:
        raise CountsError(f"mail.day {section.get('day')!r} is not a YYYY-MM-DD day") from None
    counts = {key: _count(section, key, "mail") for key in COUNTS}
    groups = _per_name(section, "groups", GROUP_COUNTS, 32)
    senders = _per_name(section, "senders", SENDER_COUNTS, 254)
    if len(senders) > MAX_SENDERS:
        raise CountsError(f"mail.senders names {len(senders)} senders, more than the {MAX_SENDERS} kept")
    return day, counts, groups, senders


def day_counts(server: Server, day: date) -> MailCount | None:
    """The server's counts for one UTC day, as the last sweep stored them (None: none yet)."""
    stmt = select(MailCount).where(MailCount.server_id == server.id, MailCount.day == day)
    return db.session.execute(stmt).scalar_one_or_none()


def record_counts(names: Iterable[str], directory: Path, now: datetime) -> list[CheckResult]:
    """Store each server's counts from <directory>/<name>.json and let today's reputation
    deferrals back its warm-up off; returns the `warmup` results of servers with a plan. Files
    without counts, or unreadable, are skipped (the facts checks already report them)."""
    results: list[CheckResult] = []
    for name in names:
        server = db.session.execute(select(Server).where(Server.name == name)).scalar_one_or_none()
        if server is None:
            continue
        try:
            doc = parse_facts((directory / f"{name}.json").read_bytes())
            if doc.get("mail") is None:
                continue
            day, counts, groups, senders = parse_mail(doc["mail"])
        except (OSError, FactsError, CountsError) as exc:
            log.warning("mail counts of %s skipped: %s", name, exc)
            continue
        row = day_counts(server, day) or MailCount(server_id=server.id, day=day)
        for key, value in counts.items():
            setattr(row, key, value)
        row.groups, row.senders, row.collected_at = groups, senders, now
        db.session.add(row)
        db.session.commit()
        if day == now.date():
            attempts = counts["sent"] + counts["deferred"] + counts["bounced"]
            found = warmup.react_to_deferrals(server, counts["reputation_deferrals"], attempts, now)
            if found is not None:
                results.append(found)
    return results


CHART_DAYS = 30


@dataclass(frozen=True)
class Day:
    day: date
    sent: int | None  # None: not counted that day
    cap: int | None  # the IP's daily cap that day as the plan stands now (None: no plan yet, or warm)


def recent_days(server: Server, last: date, days: int = CHART_DAYS) -> list[Day]:
    """The `days` days up to `last`: each one's delivered count and the warm-up plan's daily cap."""
    first = last - timedelta(days=days - 1)
    rows = db.session.execute(
        select(MailCount.day, MailCount.sent).where(
            MailCount.server_id == server.id, MailCount.day >= first, MailCount.day <= last
        )
    )
    sent = {day: count for day, count in rows}
    plan = warmup.plan_of(server)
    out = []
    for day in (first + timedelta(days=n) for n in range(days)):
        step = warmup.status(plan, day).today if plan is not None and day >= plan.started_on else None
        out.append(Day(day, sent.get(day), step.daily if step else None))
    return out


def sent_by_server(first: date, last: date) -> dict[int, int]:
    """{server id: messages sent from day `first` to day `last`, both included}."""
    rows = db.session.execute(
        select(MailCount.server_id, func.sum(MailCount.sent))
        .where(MailCount.day >= first, MailCount.day <= last)
        .group_by(MailCount.server_id)
    )
    return {server_id: int(sent) for server_id, sent in rows}


def messages_since(first: Mapping[int, date]) -> dict[int, int]:
    """{server id: messages it sent out or delivered into its mailboxes from day `first[id]` on}
    for the servers of `first` that counted any."""
    if not first:
        return {}
    rows = db.session.execute(
        select(MailCount.server_id, MailCount.day, MailCount.sent + MailCount.received).where(
            MailCount.server_id.in_(list(first))
        )
    )
    out: dict[int, int] = {}
    for server_id, day, messages in rows:
        if day >= first[server_id] and messages:
            out[server_id] = out.get(server_id, 0) + messages
    return out


def sent_by_tenant(days: Iterable[date]) -> dict[str, dict[date, int]]:
    """{tenant slug: {day: messages its servers sent that day}} for the given days (a day no server
    of the tenant counted is absent, not zero)."""
    rows = db.session.execute(
        select(Tenant.slug, MailCount.day, func.sum(MailCount.sent))
        .join(Server, Server.id == MailCount.server_id)
        .join(Tenant, Tenant.id == Server.tenant_id)
        .where(MailCount.day.in_(list(days)))
        .group_by(Tenant.slug, MailCount.day)
    )
    out: dict[str, dict[date, int]] = {}
    for slug, day, sent in rows:
        out.setdefault(slug, {})[day] = int(sent)
    return out


def _busiest(days: Iterable[Mapping[str, Any] | None], limit: int) -> list[dict[str, Any]]:
    """The busiest of the day's sender counts `days` (mail_counts.senders), summed per sender: most
    delivery attempts first (then by address)."""
    totals: dict[str, dict[str, int]] = {}
    for senders in days:
        for sender, counts in (senders or {}).items():
            into = totals.setdefault(sender, dict.fromkeys(SENDER_COUNTS, 0))
            for key in SENDER_COUNTS:
                into[key] += int(counts.get(key, 0))
    busiest = sorted(totals.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:limit]
    return [{"sender": sender} | counts for sender, counts in busiest]


def top_senders(server: Server, first: date, last: date, limit: int = 10) -> list[dict[str, Any]]:
    """The server's busiest senders from day `first` to day `last`, both included: [{"sender",
    "sent", "deferred", "bounced"}], most delivery attempts first (then by address). A sender
    counts only on the days it was among the day's busiest the facts run kept."""
    return _busiest(
        db.session.scalars(
            select(MailCount.senders).where(
                MailCount.server_id == server.id, MailCount.day >= first, MailCount.day <= last
            )
        ),
        limit,
    )


def tenant_top_senders(slug: str, day: date, limit: int = 3) -> list[dict[str, Any]]:
    """The busiest senders of all the tenant's servers on one day, as :func:`top_senders`."""
    return _busiest(
        db.session.scalars(
            select(MailCount.senders)
            .join(Server, Server.id == MailCount.server_id)
            .join(Tenant, Tenant.id == Server.tenant_id)
            .where(Tenant.slug == slug, MailCount.day == day)
        ),
        limit,
    )
