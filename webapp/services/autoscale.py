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
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from mailfleet.monitoring import CheckResult, Status
from webapp.errors import InvalidInput, MailfleetWebError
from webapp.extensions import db
from webapp.models import (
    AutoScale,
    HealthCheck,
    Run,
    ScaleAction,
    ScaleDecision,
    Server,
    ServerStatus,
    Tenant,
)
from webapp.services import capacity, provider, quotas
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


def _cooldown() -> timedelta:
    return timedelta(hours=current_app.config["MAILFLEET_AUTOSCALE_COOLDOWN_HOURS"])


def _what(server: Server, advice: capacity.Recommendation) -> str:
    assert advice.plan is not None and advice.change is not None
    return (
        f"{server.name} {advice.direction}size to {advice.plan.name} ({advice.change:+.2f} dollars a month)"
    )


def _act(
    server: Server, advice: capacity.Recommendation, now: datetime
) -> tuple[ScaleAction, str, Run | None]:
    """Order the resize the advice names, unless the cooldown or the budget holds it back."""
    assert advice.plan is not None and advice.change is not None and server.tenant is not None
    tenant = server.tenant
    what = _what(server, advice)
    last = capacity.last_resize(server)
    if last is not None and last.finished_at is not None and last.finished_at > now - _cooldown():
        ready = last.finished_at + _cooldown()
        return (
            ScaleAction.HELD,
            f"{what} held: resized by run {last.id}, cooldown until {ready:%Y-%m-%d %H:%M} UTC",
            None,
        )
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
        action, detail, run = _act(server, advice, now)
    else:
        action, detail = ScaleAction.RECOMMENDED, f"{_what(server, advice)} recommended"
    detail = f"{detail}, because {advice.reason}"
    _record(server, mode, action, advice, detail, run, now)
    return CheckResult(server.name, CHECK, Status.WARNING, float(advice.change or 0), detail, now)


def autoscale_results(now: datetime) -> list[CheckResult]:
    """The ``autoscale`` check of every active server whose mode is not off, and an OK for a server
    turned off while its alert was open (for the alert engine)."""
    servers = db.session.scalars(
        select(Server).where(Server.status == ServerStatus.ACTIVE, Server.tenant_id.is_not(None))
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
