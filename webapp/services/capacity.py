"""Capacity of a server: trends, when its disk and monthly bandwidth run out, which plan it should
be on, and the resize run that moves it there.

- Disk: a straight line through the used space of the last 6 hours (5-minute samples) and of the
  last 7 days (hourly rollups); the sooner date counts. Within 7 days is a warning, within 48 hours
  critical, by default (MAILFLEET_DISK_FORECAST_WARNING_DAYS and _CRITICAL_DAYS); also alerted, as
  the check ``disk_forecast``, by the hourly usage job.
- Bandwidth: the provider's monthly allowance against this month's use, on the same line.
- Plans: with MAILFLEET_CAPACITY_MIN_HISTORY_DAYS (14) of samples on its current plan (since its
  last resize, if any), a server whose 95th percentile CPU is over 80 %,
  whose 99th percentile memory is over 90 % or whose disk fills within 30 days (the defaults; its
  tenant's auto-scaling policy may set other thresholds: :class:`Thresholds`) should move up to
  the next plan by price with more room; one under 20 % CPU and 50 % memory whose disk would fit
  a cheaper plan with room to spare should move down. Each recommendation names the plan and the
  difference in dollars a month.
- Resize: playbooks/resize.yml through the run catalogue (``resize``, which spends): only people
  who may spend, confirmed by typing the server's name after seeing the price difference, one
  resize per tenant at a time, none within RESIZE_COOLDOWN of the server's last one, none that
  takes the tenant past its spending limit or its monthly budget (webapp.services.costs.check_change),
  and a refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.costs import month_bounds
from mailfleet.monitoring import CheckResult, Status
from mailfleet.usage import Forecast, until_full
from webapp.errors import Conflict, InvalidInput, MailfleetWebError
from webapp.extensions import db
from webapp.models import FINISHED_STATUSES, AutoScalePolicy, Run, RunStatus, Server, ServerStatus, Tenant
from webapp.models.usage import FIVE_MINUTES, HOUR
from webapp.services import costs, fleet, provider, quotas, runs, usage
from webapp.services.lifecycle import confirm
from webapp.services.scope import Scope

RESIZE_COOLDOWN = timedelta(hours=6)
UPSIZE_CPU_P95, UPSIZE_MEM_P99, UPSIZE_DISK_DAYS = 80.0, 90.0, 30.0
DOWNSIZE_CPU_P95, DOWNSIZE_MEM_P99, DOWNSIZE_DISK_USE = 20.0, 50.0, 0.5
GB_MB = 1024


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


@dataclass(frozen=True)
class Thresholds:
    """When a server should grow: its 95th percentile CPU or 99th percentile memory above these
    percentages, or its disk full within this many days."""

    cpu_p95: float = UPSIZE_CPU_P95
    mem_p99: float = UPSIZE_MEM_P99
    disk_days: float = UPSIZE_DISK_DAYS


def thresholds_of(server: Server) -> Thresholds:
    """Its tenant's auto-scaling policy's thresholds, else the defaults."""
    policy = db.session.get(AutoScalePolicy, server.tenant_id) if server.tenant_id is not None else None
    if policy is None:
        return Thresholds()
    return Thresholds(policy.cpu_p95_pct, policy.mem_p99_pct, policy.disk_full_days)


@dataclass(frozen=True)
class Recommendation:
    direction: str  # "up", "down" or "stay"
    reason: str
    plan: provider.Plan | None = None
    change: Decimal | None = None  # dollars a month, + for more


@dataclass(frozen=True)
class Capacity:
    server: Server
    disk: Forecast | None  # the sooner of the 6-hour and 7-day fits
    bandwidth: Forecast | None
    cpu_p95: float | None
    mem_p99: float | None
    history: timedelta
    recommendation: Recommendation

    @property
    def disk_status(self) -> Status:
        days = self.disk.days if self.disk else None
        if days is None:
            return Status.OK
        config = current_app.config
        if days <= config["MAILFLEET_DISK_FORECAST_CRITICAL_DAYS"]:
            return Status.ERROR
        return Status.WARNING if days <= config["MAILFLEET_DISK_FORECAST_WARNING_DAYS"] else Status.OK


def _disk_forecast(server: Server, now: datetime) -> Forecast | None:
    ts = int(now.timestamp())
    fits = []
    for step, span, label in ((FIVE_MINUTES, 6 * 3600, "6 hours"), (HOUR, 7 * 86400, "7 days")):
        found = usage.window(server.id, step, ts - span)
        total = found.latest("disk_total_mb")
        if total:
            fits.append(until_full(found.points("disk_used_mb"), total, "MB", label))
    dated = [f for f in fits if f.days is not None]
    if dated:
        return min(dated, key=lambda f: f.days or 0)
    return fits[-1] if fits else None


def _bandwidth_forecast(server: Server, now: datetime) -> Forecast | None:
    start = int(month_bounds(now)[0].timestamp())
    found = usage.window(server.id, FIVE_MINUTES, start)
    allowance = found.latest("bw_total_gb")
    if not allowance:
        return None
    return until_full(found.points("bw_used_gb"), allowance, "GB", "month so far")


def _current_plan(server: Server, plans: tuple[provider.Plan, ...]) -> provider.Plan | None:
    return next((p for p in plans if server.plan in (p.id, p.name)), None)


def recommend(
    server: Server,
    plans: tuple[provider.Plan, ...],
    cpu_p95: float | None,
    mem_p99: float | None,
    disk: Forecast | None,
    disk_used_mb: float | None,
    history: timedelta,
    thresholds: Thresholds = Thresholds(),
) -> Recommendation:
    current = _current_plan(server, plans)
    if current is None or current.monthly is None:
        return Recommendation(
            "stay", f"the plan {server.plan or '(none)'} is not in the provider's price list"
        )
    needed = current_app.config["MAILFLEET_CAPACITY_MIN_HISTORY_DAYS"]
    if history < timedelta(days=needed):
        days = history.total_seconds() / 86400
        return Recommendation(
            "stay", f"needs {needed:g} days of samples on its plan to judge the size (has {days:.1f})"
        )
    current_price = current.monthly
    priced = sorted(((p.monthly, p) for p in plans if p.monthly is not None), key=lambda pair: pair[0])
    reasons = []
    if cpu_p95 is not None and cpu_p95 > thresholds.cpu_p95:
        reasons.append(f"95th percentile CPU {cpu_p95:.0f} % > {thresholds.cpu_p95:g} %")
    if mem_p99 is not None and mem_p99 > thresholds.mem_p99:
        reasons.append(f"99th percentile memory {mem_p99:.0f} % > {thresholds.mem_p99:g} %")
    if disk is not None and disk.days is not None and disk.days <= thresholds.disk_days:
        reasons.append(f"disk full in {disk.days:.0f} days")
    if reasons:
        bigger = [
            (price, p)
            for price, p in priced
            if price > current_price
            and (p.ram_mb or 0) >= (current.ram_mb or 0)
            and (p.disk_gb or 0) >= (current.disk_gb or 0)
            and (p.bandwidth_gb or 0) >= (current.bandwidth_gb or 0)
        ]
        if not bigger:
            return Recommendation("stay", "; ".join(reasons) + ", but no larger plan is offered")
        price, target = bigger[0]
        return Recommendation("up", "; ".join(reasons), target, price - current_price)
    quiet = (
        cpu_p95 is not None
        and mem_p99 is not None
        and cpu_p95 < DOWNSIZE_CPU_P95
        and mem_p99 < DOWNSIZE_MEM_P99
    )
    if quiet and disk_used_mb is not None:
        fits = [
            (price, p)
            for price, p in priced
            if price < current_price and p.disk_gb and disk_used_mb < p.disk_gb * GB_MB * DOWNSIZE_DISK_USE
        ]
        if fits:
            price, target = fits[-1]  # the largest cheaper plan that fits
            reason = (
                f"95th percentile CPU {cpu_p95:.0f} % and memory {mem_p99:.0f} % over "
                f"{history.days} days; the disk in use fits {target.name} with room to spare"
            )
            return Recommendation("down", reason, target, price - current_price)
    return Recommendation("stay", "the current plan fits what the samples show")


def capacity(server: Server, now: datetime, plans: tuple[provider.Plan, ...]) -> Capacity:
    """Judged on the last 30 days, or on the days since the server's last resize: samples of the old
    plan say nothing about the new one."""
    since = now - timedelta(days=30)
    resized = last_resize(server)
    if resized is not None and resized.finished_at is not None:
        since = max(since, resized.finished_at)
    recent = usage.window(server.id, FIVE_MINUTES, int(since.timestamp()))
    first = recent.rows[0].ts if recent.rows else None
    history = timedelta(seconds=int(now.timestamp()) - first) if first is not None else timedelta(0)
    mem = [
        100 * r.mem_used_mb / r.mem_total_mb
        for r in recent.rows
        if r.mem_used_mb is not None and r.mem_total_mb
    ]
    disk = _disk_forecast(server, now)
    cpu_p95 = percentile([v for _, v in recent.points("cpu_peak_pct")], 95)
    mem_p99 = percentile(mem, 99)
    return Capacity(
        server,
        disk,
        _bandwidth_forecast(server, now),
        cpu_p95,
        mem_p99,
        history,
        recommend(
            server, plans, cpu_p95, mem_p99, disk, recent.latest("disk_used_mb"), history,
            thresholds_of(server),
        ),
    )


def offered_plans(name: str | None = None) -> tuple[tuple[provider.Plan, ...], str | None]:
    """A provider's plans (the default provider's unless named), or none and why (pages still show
    the trends)."""
    try:
        return provider.offers(name).plans, None
    except MailfleetWebError as exc:
        return (), str(exc)


def forecast_results(now: datetime) -> list[CheckResult]:
    """The ``disk_forecast`` check of every active server with disk samples (for the alert engine)."""
    out = []
    active = select(Server).where(Server.status == ServerStatus.ACTIVE, Server.drill_of_id.is_(None))
    for server in db.session.scalars(active):
        disk = _disk_forecast(server, now)
        if disk is None:
            continue
        status = Capacity(
            server, disk, None, None, None, timedelta(0), Recommendation("stay", "")
        ).disk_status
        days = round(disk.days, 1) if disk.days is not None else None
        out.append(CheckResult(server.name, "disk_forecast", status, days, f"disk: {disk.explanation}", now))
    return out


# --- resize ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResizePlan:
    server: Server
    current: provider.Plan | None
    target: provider.Plan
    change: Decimal  # dollars a month

    @property
    def lost(self) -> list[str]:
        before = (
            f"${self.current.monthly}" if self.current and self.current.monthly is not None else "unknown"
        )
        return [
            f"{self.server.name} restarts on {self.target.name}: senders queue its mail for a few minutes",
            f"its monthly cost goes from {before} to ${self.target.monthly} ({self.change:+.2f} a month)",
        ]


def resize_plan(scope: Scope, tenant: Tenant, server_id: int, plan: str | None) -> ResizePlan:
    """What resizing would do (for the confirmation page); refuses what the resize itself would."""
    quotas.require_spender(scope, "resizing servers")
    server = fleet.server_of(scope, tenant, server_id)
    if server.status != ServerStatus.ACTIVE:
        raise Conflict(f"{server.name} is {server.status}: only an active server can be resized")
    offers = provider.offers(server.provider)
    target = offers.plan((plan or "").strip())
    if target is None or target.monthly is None:
        raise InvalidInput(
            f"unknown plan {plan!r}; the provider offers {', '.join(p.id for p in offers.plans)}"
        )
    current = _current_plan(server, offers.plans)
    if current is not None and current.id == target.id:
        raise InvalidInput(f"{server.name} is already on {target.name}")
    change = target.monthly - (current.monthly if current and current.monthly is not None else Decimal(0))
    return ResizePlan(server, current, target, change)


def last_resize(server: Server) -> Run | None:
    """The server's latest successful resize run, if mailfleet resized it."""
    from mailfleet.hostwinds import parse_srvrname

    parsed = parse_srvrname(server.name)
    if parsed is None or server.tenant_id is None:
        return None
    done = db.session.scalars(
        select(Run)
        .where(
            Run.tenant_id == server.tenant_id,
            Run.catalogue_key == "resize",
            Run.status == RunStatus.SUCCESSFUL,
        )
        .order_by(Run.finished_at.desc())
    )
    return next(
        (r for r in done if int((r.extravars or {}).get("server_index") or 0) == parsed.index), None
    )


def _check_cooldown(server: Server) -> None:
    """Refuse a second resize of the server within RESIZE_COOLDOWN of the last successful one."""
    run = last_resize(server)
    if run is not None and run.finished_at is not None and run.finished_at > utcnow() - RESIZE_COOLDOWN:
        ready = run.finished_at + RESIZE_COOLDOWN
        raise Conflict(
            f"{server.name} was resized by run {run.id}; the next resize can be ordered after "
            f"{ready:%Y-%m-%d %H:%M} UTC (a server settles on its new plan first)"
        )


def resize_server(
    scope: Scope,
    tenant: Tenant,
    server_id: int,
    plan: str | None,
    confirmation: str | None,
    submission_key: str | None = None,
) -> Run:
    """Queue playbooks/resize.yml for the server, after the checks of :func:`resize_plan`, the
    typed confirmation, and the tenant's spending limit and budget (costs.check_change)."""
    if (earlier := runs.find_submission(tenant, submission_key, "resize")) is not None:
        return earlier
    found = resize_plan(scope, tenant, server_id, plan)
    confirm(confirmation, found.server.name, found.lost)
    busy = db.session.scalar(
        select(Run.id).where(
            Run.tenant_id == tenant.id, Run.catalogue_key == "resize", Run.status.not_in(FINISHED_STATUSES)
        )
    )
    if busy is not None:
        raise Conflict(f"run {busy} is already resizing a server of {tenant.slug}: wait for it to finish")
    costs.check_change(tenant, found.change, utcnow())
    index = fleet.ordered_index(found.server, tenant, "resize it at its provider")
    _check_cooldown(found.server)
    previous = found.current.monthly if found.current and found.current.monthly is not None else None
    return runs.submit_run(
        scope,
        tenant,
        "resize",
        submission_key=submission_key,
        extravars={
            **fleet.server_vars(tenant, found.server.provider, index),
            "server_plan": found.target.id,
            "resize_monthly_price": str(found.target.monthly),
            "resize_previous_price": str(previous) if previous is not None else "unknown",
        },
    )


def note_resized(run: Run) -> None:
    """A successful resize puts the server on its new plan and price at once (the inventory refresh
    would within minutes); the price history records the change on the next sample."""
    extravars = run.extravars or {}
    if run.status != RunStatus.SUCCESSFUL or not extravars.get("server_index"):
        return
    from mailfleet.hostwinds import build_srvrname

    name = build_srvrname(run.tenant.slug, int(extravars["server_index"]))
    server = db.session.scalar(select(Server).where(Server.tenant_id == run.tenant_id, Server.name == name))
    plans = offered_plans(server.provider if server is not None else None)[0]
    target = next((p for p in plans if p.id == str(extravars.get("server_plan"))), None)
    if server is not None and target is not None:
        server.plan, server.monthly_price = target.name, target.monthly
