"""Auto-scaling: what the hourly capacity check does with a server's resize recommendation.

Each tenant has a mode, and each server may override its tenant's:

- ``off``: nothing (the usage page still shows the recommendation);
- ``recommend``: the recommendation is raised as the alert ``autoscale`` of the server;
- ``act``: the resize is ordered through the same path as the usage page's Resize button and the
  API (webapp.services.capacity.resize_server, as the scheduler), so the same guard rails hold: one
  resize per tenant at a time, the tenant's spending limit, the post-check of playbooks/resize.yml.
  Auto-scaling adds its own cooldown: no resize within MAILFLEET_AUTOSCALE_COOLDOWN_HOURS of the
  server's last one. Like the button, it never resizes up past the tenant's spending limit or its
  monthly budget (its run rate plus the price difference: webapp.services.costs.check_change); a
  resize held back says why in the decision and the alert.

Every decision is written as a ScaleDecision when it differs from the server's last (shown on the
usage page and in the API), and alerted as ``autoscale`` (warning) until the plan fits again.
Recommendations need MIN_HISTORY of samples on the current plan (webapp.services.capacity), so a
resized server is judged afresh.

A tenant's policy (AutoScalePolicy, set by administrators; its people read it) holds the rules of
its auto-scaling: the thresholds past which a server should grow (95th percentile CPU, 99th
percentile memory, in %, and the days until its disk is full, each 1 to 100; the capacity advice
of its servers follows them), the largest plan an upsize may order, the most the tenant's run rate
may be after one (at most its monthly budget), and the cooldown after a server's last resize (from
0 hours; the resize's own guard of webapp.services.capacity.RESIZE_COOLDOWN still holds). A policy
is checked whole before it is stored: one bad field stores nothing. A tenant without one follows
:data:`DEFAULTS` (the cooldown MAILFLEET_AUTOSCALE_COOLDOWN_HOURS); downsizes are never held by the
max plan or the max spend.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from mailfleet.monitoring import CheckResult, Status
from webapp.errors import InvalidInput, MailfleetWebError
from webapp.extensions import db
from webapp.models import (
    AutoScale,
    AutoScalePolicy,
    HealthCheck,
    Run,
    ScaleAction,
    ScaleDecision,
    Server,
    ServerStatus,
    Tenant,
)
from webapp.services import capacity, costs, provider, quotas
from webapp.services.scope import Scope

log = logging.getLogger(__name__)

CHECK = "autoscale"
#: The server form's choice for "as its tenant's" (stored as None).
AS_TENANT = "tenant"


def parse_mode(raw: str | None, *, server: bool = False) -> AutoScale | None:
    """A mode as typed; ``tenant`` (servers only) means the tenant's, stored as None."""
    value = (raw or "").strip().lower()
    if server and value == AS_TENANT:
        return None
    try:
        return AutoScale(value)
    except ValueError:
        choices = [m.value for m in AutoScale] + ([AS_TENANT] if server else [])
        raise InvalidInput(f"auto-scaling must be one of {', '.join(choices)}, not {raw!r}") from None


def set_tenant_mode(scope: Scope, tenant: Tenant, raw: str | None) -> AutoScale:
    """People who may spend set their tenant's mode (act orders resizes that cost money)."""
    quotas.require_spender(scope, "setting auto-scaling")
    mode = parse_mode(raw)
    assert mode is not None
    tenant.autoscale = mode
    db.session.commit()
    return mode


def set_server_mode(scope: Scope, server: Server, raw: str | None) -> AutoScale | None:
    quotas.require_spender(scope, "setting auto-scaling")
    server.autoscale = parse_mode(raw, server=True)
    db.session.commit()
    return server.autoscale


def decisions(server: Server, limit: int = 20) -> list[ScaleDecision]:
    """The server's latest decisions, newest first."""
    return list(
        db.session.scalars(
            select(ScaleDecision)
            .where(ScaleDecision.server_id == server.id)
            .order_by(ScaleDecision.at.desc(), ScaleDecision.id.desc())
            .limit(limit)
        )
    )


# --- the tenant's policy ---------------------------------------------------------------------------
#: Bounds of a policy's figures: each threshold in % or days, the cooldown in hours (up to a year).
THRESHOLD_RANGE = (1.0, 100.0)
COOLDOWN_RANGE = (0.0, 8760.0)
#: A policy's fields, as the form, the API and the table name them.
POLICY_FIELDS = (
    "cpu_p95_pct", "mem_p99_pct", "disk_full_days", "max_plan", "max_monthly_spend", "cooldown_hours"
)


@dataclass(frozen=True)
class Policy:
    """The rules auto-scaling follows for a tenant's servers."""

    cpu_p95_pct: float
    mem_p99_pct: float
    disk_full_days: float
    max_plan: str | None  # the largest plan an upsize may order (id or name); None: any offered
    max_monthly_spend: Decimal | None  # the tenant's run rate after an upsize; None: its budget only
    cooldown_hours: float
    own: bool  # False: the defaults (the tenant has no policy of its own)

    @property
    def thresholds(self) -> capacity.Thresholds:
        return capacity.Thresholds(self.cpu_p95_pct, self.mem_p99_pct, self.disk_full_days)


def defaults() -> Policy:
    """What a tenant without a policy follows: the capacity advice's thresholds, no max plan nor
    max spend beyond the budget, the cooldown MAILFLEET_AUTOSCALE_COOLDOWN_HOURS."""
    found = capacity.Thresholds()
    cooldown = float(current_app.config["MAILFLEET_AUTOSCALE_COOLDOWN_HOURS"])
    return Policy(found.cpu_p95, found.mem_p99, found.disk_days, None, None, cooldown, False)


def policy_of(tenant: Tenant) -> Policy:
    row = db.session.get(AutoScalePolicy, tenant.id)
    if row is None:
        return defaults()
    return Policy(
        row.cpu_p95_pct,
        row.mem_p99_pct,
        row.disk_full_days,
        row.max_plan,
        row.max_monthly_spend,
        row.cooldown_hours,
        True,
    )


def cooldown_hours(server: Server) -> float:
    """The cooldown auto-scaling keeps after the server's last resize (its tenant's policy's)."""
    return policy_of(server.tenant).cooldown_hours if server.tenant is not None else defaults().cooldown_hours


def _number(raw: object, what: str, bounds: tuple[float, float], default: float) -> float:
    """A figure as typed (a form's text or the API's number); empty: `default`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    span = f"from {bounds[0]:g} to {bounds[1]:g}"
    try:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{what} must be a number {span}, not {raw!r}") from None
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        raise InvalidInput(f"{what} must be {span}, not {value:g}")
    return value


def _max_plan(tenant: Tenant, raw: object) -> str | None:
    """The max plan as typed, checked against the price list of each provider the tenant's servers
    run at (the default provider's if it has none): offered, and no cheaper than any server's
    current plan (a policy that would have a server shrink to grow is refused). Stored by its name
    when one provider's list is concerned, else as typed."""
    typed = str(raw if raw is not None else "").strip()
    if not typed:
        return None
    servers = db.session.scalars(
        select(Server).where(Server.tenant_id == tenant.id, Server.status != ServerStatus.GONE)
    ).all()
    names = set()
    used: list[str | None] = [*sorted({s.provider for s in servers})]
    for name in used or [None]:
        offers = provider.offers(name)
        cap = offers.plan(typed)
        if cap is None or cap.monthly is None:
            listed = ", ".join(f"{p.id} ({p.name})" for p in offers.plans if p.monthly is not None)
            raise InvalidInput(f"unknown max plan {typed!r}; {offers.label} offers {listed}")
        names.add(cap.name)
        for server in (s for s in servers if s.provider == name):
            current = offers.plan(server.plan) if server.plan else None
            if current is not None and current.monthly is not None and cap.monthly < current.monthly:
                raise InvalidInput(
                    f"the max plan {cap.name} (${cap.monthly} a month) is smaller than {server.name}'s "
                    f"current plan {current.name} (${current.monthly} a month); auto-scaling would "
                    "never grow it"
                )
    return names.pop() if len(names) == 1 else typed


def parse_policy(tenant: Tenant, raw: Mapping[str, object]) -> Policy:
    """A policy as typed (the form's fields or the API's document; an empty or missing field takes
    the default), checked whole; InvalidInput names the first thing wrong."""
    base = defaults()
    cpu = _number(raw.get("cpu_p95_pct"), "the CPU threshold (95th percentile, %)", THRESHOLD_RANGE,
                  base.cpu_p95_pct)
    mem = _number(raw.get("mem_p99_pct"), "the memory threshold (99th percentile, %)", THRESHOLD_RANGE,
                  base.mem_p99_pct)
    disk = _number(raw.get("disk_full_days"), "the disk-full threshold (days)", THRESHOLD_RANGE,
                   base.disk_full_days)
    cooldown = _number(raw.get("cooldown_hours"), "the cooldown (hours)", COOLDOWN_RANGE, base.cooldown_hours)
    spend = costs.parse_amount(raw.get("max_monthly_spend"), "the max monthly spend")
    budget = tenant.monthly_budget
    if spend is not None and budget is not None and spend > budget:
        raise InvalidInput(
            f"the max monthly spend ${spend} is above {tenant.slug}'s ${budget} budget; auto-scaling never "
            "spends past the budget: lower it, or raise the budget first"
        )
    return Policy(cpu, mem, disk, _max_plan(tenant, raw.get("max_plan")), spend, cooldown, True)


def set_policy(scope: Scope, tenant: Tenant, raw: Mapping[str, object]) -> Policy:
    """Administrators set the tenant's policy; nothing is stored unless all of it is right."""
    scope.require_admin()
    found = parse_policy(tenant, raw)
    row = db.session.get(AutoScalePolicy, tenant.id) or AutoScalePolicy(tenant_id=tenant.id)
    for name in POLICY_FIELDS:
        setattr(row, name, getattr(found, name))
    db.session.add(row)
    db.session.commit()
    return found


def clear_policy(scope: Scope, tenant: Tenant) -> Policy:
    """Administrators drop the tenant's policy: the defaults apply again."""
    scope.require_admin()
    row = db.session.get(AutoScalePolicy, tenant.id)
    if row is not None:
        db.session.delete(row)
        db.session.commit()
    return defaults()


def _policy_holds(
    server: Server, advice: capacity.Recommendation, policy: Policy, plans: tuple[provider.Plan, ...],
    now: datetime,
) -> str | None:
    """Why the policy holds an upsize back (past its max plan or its max spend), or None."""
    assert advice.plan is not None and advice.change is not None and server.tenant is not None
    if advice.direction != "up":
        return None
    if policy.max_plan is not None:
        cap = next((p for p in plans if policy.max_plan in (p.id, p.name)), None)
        if cap is None or cap.monthly is None:
            return f"the policy's max plan {policy.max_plan} is not in {server.provider}'s price list"
        if advice.plan.monthly is not None and advice.plan.monthly > cap.monthly:
            return f"{advice.plan.name} is past the policy's max plan {cap.name} (${cap.monthly} a month)"
    if policy.max_monthly_spend is not None:
        rate = costs.tenant_cost(server.tenant, now).month.run_rate
        if rate + advice.change > policy.max_monthly_spend:
            return (
                f"it would take {server.tenant.slug}'s run rate from ${rate:.2f} to "
                f"${rate + advice.change:.2f} a month, past the policy's ${policy.max_monthly_spend} limit"
            )
    return None


def _what(server: Server, advice: capacity.Recommendation) -> str:
    assert advice.plan is not None and advice.change is not None
    return (
        f"{server.name} {advice.direction}size to {advice.plan.name} ({advice.change:+.2f} dollars a month)"
    )


def _act(
    server: Server, advice: capacity.Recommendation, plans: tuple[provider.Plan, ...], now: datetime
) -> tuple[ScaleAction, str, Run | None]:
    """Order the resize the advice names, unless the tenant's policy (cooldown, max plan, max
    spend) or the budget holds it back."""
    assert advice.plan is not None and advice.change is not None and server.tenant is not None
    tenant = server.tenant
    policy = policy_of(tenant)
    what = _what(server, advice)
    last = capacity.last_resize(server)
    cooldown = timedelta(hours=policy.cooldown_hours)
    if last is not None and last.finished_at is not None and last.finished_at > now - cooldown:
        ready = last.finished_at + cooldown
        return (
            ScaleAction.HELD,
            f"{what} held: resized by run {last.id}, cooldown until {ready:%Y-%m-%d %H:%M} UTC",
            None,
        )
    if (why := _policy_holds(server, advice, policy, plans, now)) is not None:
        return ScaleAction.HELD, f"{what} held: {why}", None
    try:  # the button's checks, the spending limit and the budget among them
        run = capacity.resize_server(Scope.system(), tenant, server.id, advice.plan.id, server.name)
    except MailfleetWebError as exc:
        return ScaleAction.HELD, f"{what} held: {exc}", None
    return ScaleAction.RESIZED, f"{what} ordered as run {run.id}", run


def _record(
    server: Server,
    mode: AutoScale,
    action: ScaleAction,
    advice: capacity.Recommendation,
    detail: str,
    run: Run | None,
    now: datetime,
) -> None:
    """Write the decision unless it repeats the server's last one (same action and plan)."""
    plan = advice.plan.name if advice.plan is not None else None
    last = next(iter(decisions(server, 1)), None)
    if last is None and action is ScaleAction.SETTLED:
        return
    if last is not None and (last.action, last.plan) == (action, plan) and run is None:
        return
    db.session.add(
        ScaleDecision(
            server_id=server.id,
            at=now,
            mode=mode,
            action=action,
            plan=plan,
            change=advice.change,
            reason=detail,
            run_id=run.id if run is not None else None,
        )
    )
    db.session.commit()


def decide(server: Server, plans: tuple[provider.Plan, ...], now: datetime) -> CheckResult:
    """Judge one server in its mode (not off), act if the mode says so, and record the decision."""
    mode = server.autoscale_mode
    advice = capacity.capacity(server, now, plans).recommendation
    if advice.direction == "stay" or advice.plan is None:
        detail = f"{server.name} stays on {server.plan or 'its plan'}: {advice.reason}"
        _record(server, mode, ScaleAction.SETTLED, advice, detail, None, now)
        return CheckResult(server.name, CHECK, Status.OK, None, detail, now)
    run = None
    if mode is AutoScale.ACT:
        action, detail, run = _act(server, advice, plans, now)
    else:
        action, detail = ScaleAction.RECOMMENDED, f"{_what(server, advice)} recommended"
    detail = f"{detail}, because {advice.reason}"
    _record(server, mode, action, advice, detail, run, now)
    return CheckResult(server.name, CHECK, Status.WARNING, float(advice.change or 0), detail, now)


def autoscale_results(now: datetime) -> list[CheckResult]:
    """The ``autoscale`` check of every active server whose mode is not off, and an OK for a server
    turned off while its alert was open (for the alert engine)."""
    servers = db.session.scalars(
        select(Server).where(
            Server.status == ServerStatus.ACTIVE, Server.tenant_id.is_not(None), Server.drill_of_id.is_(None)
        )
    ).all()
    watched = [s for s in servers if s.autoscale_mode is not AutoScale.OFF]
    alerted = set(
        db.session.scalars(
            select(HealthCheck.server_id).where(HealthCheck.check == CHECK, HealthCheck.alert_id.is_not(None))
        )
    )
    out = [
        CheckResult(s.name, CHECK, Status.OK, None, f"auto-scaling of {s.name} is off", now)
        for s in servers
        if s.autoscale_mode is AutoScale.OFF and s.id in alerted
    ]
    # Each server is judged against its own provider's price list, read once per provider.
    price_lists: dict[str, tuple[tuple[provider.Plan, ...], str | None]] = {}
    for server in watched:
        if server.provider not in price_lists:
            price_lists[server.provider] = capacity.offered_plans(server.provider)
        plans, error = price_lists[server.provider]
        if error:
            log.warning("auto-scaling of %s skipped, no price list: %s", server.name, error)
            continue
        out.append(decide(server, plans, now))
    return out
