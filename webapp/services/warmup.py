"""Warm-up plans of the tenants' servers and the cap table each server's Postfix enforces.

A server without a plan is not capped by mailfleet (Mailu's own per-user limit still applies),
except while a blocklist critically lists it: then its IP is held to a tenth of its usual day
(mailfleet.warmup.listed_caps; a ListingHold) until the listings' alerts resolve.
Setting or removing a plan pushes the new caps at once (the `sendcap` run, limited to that
server); the scheduler pushes every server's caps once a day, as warm-up days go by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mailfleet import warmup
from mailfleet.clock import utcnow
from mailfleet.monitoring import CheckResult, EventKind
from mailfleet.monitoring import Status as CheckStatus
from mailfleet.warmup import Backoff, Step, WarmupError
from webapp.errors import InvalidInput
from webapp.extensions import db
from webapp.models import (
    Domain,
    HealthAlert,
    HealthAlertEvent,
    ListingHold,
    Mailbox,
    MailCount,
    Run,
    SendingCap,
    Server,
    ServerStatus,
    WarmupPlan,
)
from webapp.services import runs
from webapp.services.scope import Scope

CUSTOM = "custom"
PLAYBOOK = "sendcap"
CHECK = "warmup"
MAX_TABLE_CHARS = 20_000
DAYS_AHEAD = 7  # a week of missed daily pushes still moves the ramp on
_SEPARATORS = re.compile(r"[\s,;]+")


def today() -> date:
    return utcnow().date()


def steps_of(plan: WarmupPlan) -> tuple[Step, ...]:
    if plan.curve == CUSTOM:
        return warmup.custom_table(plan.steps or [])
    return warmup.curve(plan.curve)


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a custom table as typed: one step a line, "day daily [hourly]" (spaces or commas)."""
    if len(text) > MAX_TABLE_CHARS:
        raise InvalidInput(f"the table must be at most {MAX_TABLE_CHARS} characters")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = [w for w in _SEPARATORS.split(line.strip()) if w]
        if not words:
            continue
        if len(words) not in (2, 3):
            raise InvalidInput(f"line {number}: write the day, the daily cap and optionally the hourly cap")
        rows.append(dict(zip(("day", "daily", "hourly"), words, strict=False)))
    return rows


def table_text(plan: WarmupPlan | None) -> str:
    if plan is None or plan.curve != CUSTOM:
        return ""
    return "\n".join(f"{s.day} {s.daily} {s.hourly}" for s in steps_of(plan))


@dataclass(frozen=True)
class Status:
    """What the server page shows: warm-up day, today's caps, the next step."""

    plan: WarmupPlan | None
    day: int | None
    today: Step | None  # None: not capped (no plan, or warm)
    next: Step | None
    backoff: Backoff | None
    steps: tuple[Step, ...]
    # Today's caps of each receiver group (mailfleet.warmup.RECEIVER_GROUPS; None: not capped).
    groups: dict[str, Step | None] = field(default_factory=dict)


def status(plan: WarmupPlan | None, on: date | None = None) -> Status:
    on = on or today()
    if plan is None:
        return Status(None, None, None, None, None, ())
    steps = steps_of(plan)
    day = warmup.warmup_day(plan.started_on, on, plan.held_days)
    backoff = Backoff(plan.backoff_until, plan.backoff_factor or 1.0) if plan.backoff_until else None
    last = steps[-1].day  # a warm IP (past it) backed off is held to the plan's last caps, lowered
    step = warmup.apply_backoff(warmup.step_for_day(steps, day), backoff, on, steps[-1])
    active = backoff if backoff and on < backoff.until else None
    groups = {
        group.name: warmup.apply_backoff(
            warmup.group_step(steps, group, day), backoff, on,
            warmup.group_step(steps, group, last + group.lag_days),
        )
        for group in warmup.RECEIVER_GROUPS
    }
    return Status(plan, day, step, warmup.next_step(steps, day), active, steps, groups)


def plan_of(server: Server) -> WarmupPlan | None:
    stmt = select(WarmupPlan).where(WarmupPlan.server_id == server.id)
    return db.session.execute(stmt).scalar_one_or_none()


def cap_table(server: Server, on: date | None = None) -> dict[str, Any]:
    """The server's cap table as the mailu role's policy service reads it (mailu_sendcap_caps):
    the IP's caps, and each receiver group's (its MX suffixes and caps; the server's own domains are
    no group's), dated for `DAYS_AHEAD` days from `on`, so the service moves to each new day's caps
    at midnight UTC even before the next push; an empty entry is a day without a cap. A server held
    for a listing has its IP's caps alone, dated `on`: they hold on every later day until lifted."""
    on = on or today()
    plan = plan_of(server)
    hold = None if plan else hold_of(server)
    ip_days: dict[str, dict[str, int]] = {}
    if hold is not None:  # until it is lifted: the latest date up to a day holds
        ip_days[on.isoformat()] = {"daily": hold.daily, "hourly": hold.hourly}
    groups: dict[str, dict[str, Any]] = {}
    for offset in range(DAYS_AHEAD if plan else 0):
        day = date.fromordinal(on.toordinal() + offset)
        found = status(plan, day)
        ip_days[day.isoformat()] = _caps(found.today)
        for group in warmup.RECEIVER_GROUPS:
            entry = groups.setdefault(group.name, {"suffixes": list(group.suffixes), "days": {}})
            entry["days"][day.isoformat()] = _caps(found.groups[group.name])
    table: dict[str, Any] = {"sending_ip": server.public_ipv4 or "", "ip_days": ip_days}
    table["groups"] = groups
    if groups:  # mail into the server's own mailboxes meets no receiver: not paced by group
        local = db.session.scalars(select(Domain.name).where(Domain.server_id == server.id))
        table["local_domains"] = sorted(local)
    for cap in caps_of(server):
        entry = {"daily": cap.daily} | ({"hourly": cap.hourly} if cap.hourly else {})
        table.setdefault("mailboxes" if cap.kind == "mailbox" else "domains", {})[cap.name] = entry
    return table


def _caps(step: Step | None) -> dict[str, int]:
    return {} if step is None else {"daily": step.daily, "hourly": step.hourly}


def set_plan(
    scope: Scope, server_id: int, curve: str, table: str = "", started_on: date | None = None
) -> Run | None:
    """Give the server a plan (or replace its plan) and push its caps; bad input changes nothing."""
    server = scope.get(Server, server_id)
    curve = (curve or "").strip()
    try:
        steps = warmup.custom_table(parse_table(table)) if curve == CUSTOM else warmup.curve(curve)
    except WarmupError as exc:
        raise InvalidInput(str(exc)) from None
    plan = plan_of(server) or WarmupPlan(tenant_id=server.tenant_id, server_id=server.id, started_on=today())
    plan.curve = curve
    custom = curve == CUSTOM
    plan.steps = [{"day": s.day, "daily": s.daily, "hourly": s.hourly} for s in steps] if custom else None
    if started_on is not None:
        plan.started_on, plan.held_days = started_on, 0
    db.session.add(plan)
    db.session.commit()
    return push_caps(scope, server)


def remove_plan(scope: Scope, server_id: int) -> Run | None:
    server = scope.get(Server, server_id)
    plan = plan_of(server)
    if plan is not None:
        db.session.delete(plan)
        db.session.commit()
    return push_caps(scope, server)


def push_caps(scope: Scope, server: Server) -> Run | None:
    """The `sendcap` run for this one server; None while it has no address to reach."""
    if server.tenant is None or server.status != ServerStatus.ACTIVE or not server.public_ipv4:
        return None
    return runs.submit_run(scope, server.tenant, PLAYBOOK, limit=server.name)


def caps_of(server: Server) -> list[SendingCap]:
    stmt = select(SendingCap).where(SendingCap.server_id == server.id)
    stmt = stmt.order_by(SendingCap.kind, SendingCap.name)
    return list(db.session.execute(stmt).scalars())


def caps_text(server: Server) -> str:
    return "\n".join(
        f"{c.name} {c.daily}" + (f" {c.hourly}" if c.hourly else "") for c in caps_of(server)
    )


def set_caps(scope: Scope, server_id: int, text: str) -> Run | None:
    """Replace the server's domain and mailbox caps with those typed, one a line: "<domain or
    mailbox> <daily> [hourly]". Each name must be a domain on this server or a mailbox of one;
    anything else is refused with the reason, and nothing changes."""
    server = scope.get(Server, server_id)
    if len(text) > MAX_TABLE_CHARS:
        raise InvalidInput(f"the caps must be at most {MAX_TABLE_CHARS} characters")
    domains = set(db.session.scalars(select(Domain.name).where(Domain.server_id == server.id)))
    mailboxes = set(
        db.session.scalars(select(Mailbox.email).join(Domain).where(Domain.server_id == server.id))
    )
    caps: dict[str, SendingCap] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = [w for w in _SEPARATORS.split(line.strip()) if w]
        if not words:
            continue
        if len(words) not in (2, 3):
            raise InvalidInput(
                f"line {number}: write a domain or mailbox, its daily cap and optionally its hourly cap"
            )
        name = words[0].lower()
        if name in caps:
            raise InvalidInput(f"line {number}: {name} has a cap already")
        kind = "mailbox" if "@" in name else "domain"
        if name not in (mailboxes if kind == "mailbox" else domains):
            raise InvalidInput(f"line {number}: {name} is not a {kind} on {server.name}")
        try:
            daily = warmup.whole_number(words[1], f"line {number}: the daily cap")
            hourly = warmup.whole_number(words[2], f"line {number}: the hourly cap") if words[2:] else None
        except WarmupError as exc:
            raise InvalidInput(str(exc)) from None
        if hourly is not None and hourly > daily:
            raise InvalidInput(f"line {number}: the hourly cap {hourly} exceeds the daily cap {daily}")
        caps[name] = SendingCap(
            tenant_id=server.tenant_id, server_id=server.id, kind=kind, name=name, daily=daily, hourly=hourly
        )
    for old in caps_of(server):
        db.session.delete(old)
    db.session.flush()
    db.session.add_all(caps.values())
    db.session.commit()
    return push_caps(scope, server)


def back_off(server: Server, backoff: Backoff, on: date) -> bool:
    """Hold the server's ramp and lower its caps until `backoff.until`, and push the caps at once;
    False (nothing changes) when it has no plan or a back-off at least as long and as low holds."""
    plan = plan_of(server)
    if plan is None:
        return False
    running = plan.backoff_until if plan.backoff_until is not None and plan.backoff_until > on else None
    active = running is not None
    held_until = running or on
    factor = min(plan.backoff_factor or 1.0, backoff.factor) if active else backoff.factor
    until = max(held_until, backoff.until)
    if active and until == held_until and factor == plan.backoff_factor:
        return False
    # The ramp stands still over the days added (a running back-off already held its own).
    plan.held_days += (until - held_until).days
    plan.backoff_until, plan.backoff_factor = until, factor
    db.session.add(plan)
    db.session.commit()
    push_caps(Scope.system(), server)
    return True


def restart_for_new_ip(server: Server, on: date | None = None) -> bool:
    """A server whose main IP changed sends from a cold address: its plan starts again at day 1
    with no back-off carried over, and the caps go to the server with the new IP. False when it
    has no plan."""
    plan = plan_of(server)
    if plan is None:
        return False
    plan.started_on, plan.held_days = on or today(), 0
    plan.backoff_until = plan.backoff_factor = None
    db.session.add(plan)
    db.session.commit()
    push_caps(Scope.system(), server)
    return True


def react_to_listings(results: Iterable[CheckResult], now: datetime) -> list[str]:
    """Servers whose IP or domain a blocklist lists (a `dnsbl:` check in error) back off for a day,
    again each day they stay listed: their caps drop to a quarter, to a tenth on a critical listing
    (CheckResult.critical), and are pushed at once. A server without a plan is held on a critical
    listing (:func:`hold_listed`) and released once its listings' alerts have resolved. The
    listings' open alerts (a critical one opens on its first result) record the lowered caps on
    their timelines. Returns the names of the servers whose caps changed. Run it after the results
    are recorded, so the alerts exist."""
    on = now.date()
    listings: dict[str, list[CheckResult]] = {}
    for result in results:
        if result.check.startswith("dnsbl:") and result.status is CheckStatus.ERROR:
            listings.setdefault(result.server, []).append(result)
    changed = []
    for name, found in sorted(listings.items()):
        server = db.session.execute(select(Server).where(Server.name == name)).scalar_one_or_none()
        if server is None:
            continue
        critical = any(r.critical for r in found)
        if plan_of(server) is None:
            if critical and hold_listed(server, [r.check for r in found if r.critical], now):
                changed.append(name)
            continue
        if not back_off(server, warmup.listing_backoff(on, critical=critical), on):
            continue
        changed.append(name)
        caps = status(plan_of(server), on)
        if caps.today is not None and caps.backoff is not None:
            _note_on_alerts(server, [r.check for r in found], now, (
                f"sending caps lowered to {caps.today.daily} a day and {caps.today.hourly} an hour "
                f"(x{caps.backoff.factor:g}) until {caps.backoff.until}, renewed daily while listed"
            ))
    listed = {r.check for found in listings.values() for r in found}
    return changed + release_cleared(listed)


def hold_of(server: Server) -> ListingHold | None:
    stmt = select(ListingHold).where(ListingHold.server_id == server.id)
    return db.session.execute(stmt).scalar_one_or_none()


def hold_listed(server: Server, checks: list[str], now: datetime) -> bool:
    """Hold a server without a plan that `checks` critically list: its IP capped to a tenth of
    its usual day before the listing (mailfleet.warmup.listed_caps), pushed at once and written
    on the listings' alerts. False (caps unchanged) when a hold already stands: a further listing
    joins it, and its caps stay those of the days before the first."""
    found = hold_of(server)
    if found is not None:
        if not set(checks) <= set(found.checks):
            found.checks = sorted(set(found.checks) | set(checks))
            db.session.commit()
        return False
    on = now.date()
    first = on - timedelta(days=warmup.LISTED_USUAL_DAYS)
    sent = db.session.scalars(select(MailCount.sent).where(
        MailCount.server_id == server.id, MailCount.day >= first, MailCount.day < on
    ))
    usual = warmup.usual_daily(sent)
    caps = warmup.listed_caps(usual)
    db.session.add(ListingHold(server_id=server.id, daily=caps.daily, hourly=caps.hourly,
                               usual_daily=usual, checks=sorted(set(checks)), since=now))
    db.session.commit()
    push_caps(Scope.system(), server)
    basis = (
        f"a tenth of its usual {usual} a day" if caps.daily > warmup.LISTED_FLOOR
        else f"the floor for a server without a plan (usual day: {usual or 'not counted'})"
    )
    _note_on_alerts(server, checks, now, (
        f"sending caps set to {caps.daily} a day and {caps.hourly} an hour ({basis}) until the "
        f"listing clears"
    ))
    return True


def release_cleared(listed: set[str]) -> list[str]:
    """Lift the holds none of whose listings is still in error (`listed`: this sweep's listed
    checks) or has an open alert, and push the caps; returns the servers' names."""
    released = []
    for found in db.session.scalars(select(ListingHold).order_by(ListingHold.id)).all():
        if listed & set(found.checks):
            continue
        still = db.session.scalars(select(HealthAlert.id).where(
            HealthAlert.server_id == found.server_id,
            HealthAlert.check.in_(found.checks),
            HealthAlert.resolved_at.is_(None),
        )).first()
        if still is not None:
            continue
        server = found.server
        db.session.delete(found)
        db.session.commit()
        push_caps(Scope.system(), server)
        released.append(server.name)
    return released


def _note_on_alerts(server: Server, checks: list[str], at: datetime, detail: str) -> None:
    alerts = db.session.scalars(
        select(HealthAlert).where(
            HealthAlert.server_id == server.id,
            HealthAlert.check.in_(checks),
            HealthAlert.resolved_at.is_(None),
        )
    )
    for alert in alerts:
        db.session.add(HealthAlertEvent(alert_id=alert.id, at=at, kind=EventKind.CAPS_LOWERED, detail=detail))
    db.session.commit()


def react_to_deferrals(
    server: Server, reputation_deferrals: int, attempts: int, now: datetime
) -> CheckResult | None:
    """Today's delivery counts against the server's warm-up: a burst of reputation deferrals
    (mailfleet.warmup.backoff_due) backs it off; the `warmup` check says whether a back-off holds.
    None for a server without a plan."""
    on = now.date()
    plan = plan_of(server)
    if plan is None:
        return None
    due = warmup.backoff_due(reputation_deferrals, attempts, on)
    if due is not None:
        back_off(server, due, on)
    current = status(plan, on)
    rate = f"{reputation_deferrals} of {attempts} delivery attempts today deferred for reputation"
    if current.backoff is None:
        return CheckResult(server.name, CHECK, CheckStatus.OK, reputation_deferrals,
                           f"warm-up day {current.day}: {rate}", now)
    caps = "no cap" if current.today is None else f"{current.today.daily}/day, {current.today.hourly}/hour"
    return CheckResult(
        server.name, CHECK, CheckStatus.WARNING, reputation_deferrals,
        f"backed off until {current.backoff.until} (caps x{current.backoff.factor:g}: {caps}); {rate}", now,
    )
