"""The delisting workflow of a blocklist listing: an alert of a `dnsbl:<zone>:<address or domain>`
check. It shows the likely cause first (the server's messages sent each day of the week up to the
listing, and a volume spike among them), the list's removal page and what removal takes, records
"delisting requested" in the alert's timeline, and keeps the times: detected (the listing's first
failing check), requested, delisted (the alert resolved once the re-checks pass)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from mailfleet.clock import utcnow
from mailfleet.monitoring import EventKind, Status
from mailfleet.monitoring.dnsbl import default_list
from webapp.errors import Conflict, InvalidInput
from webapp.extensions import db
from webapp.models import HealthAlert, HealthAlertEvent, HealthResult, MailCount
from webapp.services.health import MAX_NOTE, get_alert
from webapp.services.scope import Scope

PREFIX = "dnsbl:"
VOLUME_DAYS = 7  # the days before the listing its volume is shown for
# A spike: a day sending at least SPIKE_FACTOR times the daily mean of the days before it, and at
# least SPIKE_MIN messages (a quiet server going from 3 to 10 a day is no spike).
SPIKE_FACTOR = 3.0
SPIKE_MIN = 100


@dataclass(frozen=True)
class Spike:
    day: date
    sent: int
    factor: float  # times the daily mean of the days before it


@dataclass(frozen=True)
class Volume:
    """Messages the server sent per day (as its facts runs counted them), up to the listing."""

    days: list[tuple[date, int]]  # the days with counts, oldest first
    spike: Spike | None


@dataclass(frozen=True)
class Listing:
    list_name: str
    zone: str
    subject: str  # the listed address or domain
    delist_url: str | None
    removal: str
    detected_at: datetime | None
    requested_at: datetime | None
    requested_by: str | None
    delisted_at: datetime | None
    volume: Volume

    @property
    def time_to_delist(self) -> timedelta | None:
        if self.requested_at is None or self.delisted_at is None:
            return None
        return self.delisted_at - self.requested_at

    @property
    def time_listed(self) -> timedelta | None:
        if self.detected_at is None or self.delisted_at is None:
            return None
        return self.delisted_at - self.detected_at


def listing_of(alert: HealthAlert) -> Listing | None:
    """The listing behind a blocklist alert; None for any other alert."""
    if not alert.check.startswith(PREFIX):
        return None
    zone, _, subject = alert.check[len(PREFIX):].partition(":")
    known = default_list(zone)
    requests = [e for e in alert.events if e.kind == EventKind.DELISTING_REQUESTED]
    detected_at = _detected_at(alert)
    return Listing(
        list_name=known.name if known else zone,
        zone=zone,
        subject=subject,
        delist_url=alert.link or (known.delist_url if known else None),
        removal=known.removal if known else "",
        detected_at=detected_at,
        requested_at=requests[-1].at if requests else None,
        requested_by=requests[-1].by if requests else None,
        delisted_at=alert.resolved_at,
        volume=volume_before(alert.server_id, (detected_at or alert.opened_at).date()),
    )


def volume_before(server_id: int | None, detected: date) -> Volume:
    """The server's sent counts of the VOLUME_DAYS days before `detected` and that day, and the
    largest spike of the listing's day or the day before it (the mail a list reacted to)."""
    stmt = select(MailCount.day, MailCount.sent).where(
        MailCount.server_id == server_id,
        MailCount.day >= detected - timedelta(days=VOLUME_DAYS),
        MailCount.day <= detected,
    )
    sent = dict(sorted(db.session.execute(stmt).tuples()))
    spikes = []
    for day in (detected - timedelta(days=1), detected):
        earlier = [n for d, n in sent.items() if d < day]
        if day not in sent or not earlier or sent[day] < SPIKE_MIN:
            continue
        factor = sent[day] / max(sum(earlier) / len(earlier), 1)
        if factor >= SPIKE_FACTOR:
            spikes.append(Spike(day, sent[day], factor))
    return Volume(list(sent.items()), max(spikes, key=lambda s: s.factor, default=None))


def _detected_at(alert: HealthAlert) -> datetime | None:
    """The first failing result of this listing: after the last passing one before the alert opened."""
    same = (HealthResult.server_id == alert.server_id, HealthResult.check == alert.check)
    last_ok = db.session.scalar(
        select(func.max(HealthResult.checked_at)).where(
            *same, HealthResult.status == Status.OK, HealthResult.checked_at <= alert.opened_at
        )
    )
    stmt = select(func.min(HealthResult.checked_at)).where(
        *same, HealthResult.status.in_([Status.ERROR, Status.WARNING])
    )
    if last_ok is not None:
        stmt = stmt.where(HealthResult.checked_at > last_ok)
    return db.session.scalar(stmt) or alert.opened_at


def request_delisting(scope: Scope, alert_id: int, note: str = "") -> HealthAlert:
    """Record that the current user asked the list to delist; the alert stays open until the
    re-checks find the address no longer listed."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"the note may have at most {MAX_NOTE} characters")
    alert = get_alert(scope, alert_id)
    if listing_of(alert) is None:
        raise InvalidInput(f"alert {alert_id} is not a blocklist listing")
    if alert.resolved_at is not None:
        raise Conflict(f"alert {alert_id} is resolved: the address is no longer listed")
    db.session.add(
        HealthAlertEvent(
            alert_id=alert.id,
            at=utcnow(),
            kind=EventKind.DELISTING_REQUESTED,
            detail=note,
            by=scope.actor,
        )
    )
    db.session.commit()
    db.session.refresh(alert)
    return alert
