"""Costs: every tenant's month for administrators, a tenant's own for its people, and budgets."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.errors import MailfleetWebError
from webapp.forms import AutoScalePolicyForm, BudgetForm
from webapp.models import Tenant
from webapp.services import allocation, autoscale, costs, usage
from webapp.services.scope import Scope
from webapp.views import fleet_view, tenant_form, tenant_view
from webapp.views.charts import Line, bars, line

bp = Blueprint("costs", __name__, url_prefix="/costs")


#: The charts of the fleet's (or a tenant's) usage: title, figure of the totals, scale, unit, format.
CHARTS = (
    ("Disk in use", "disk_used_mb", 1024, "GB", "%.1f"),
    ("CPU, average per server", "cpu_pct", 1, "%", "%.0f"),
    ("Bandwidth used this month", "bw_used_gb", 1, "GB", "%.0f"),
    ("Mail stored in mailboxes", "mailbox_mb", 1024, "GB", "%.1f"),
    ("Mailboxes", "mailboxes", 1, "", "%.0f"),
)


def _charts(range_key: str, tenant_id: int | None = None) -> list[tuple[str, str, str, Line]]:
    """(title, unit, format, line) of each figure over the range, over the fleet's (or the
    tenant's) servers."""
    now = utcnow()
    rows = usage.totals(range_key, now, tenant_id)
    start = now.timestamp() - usage.RANGES[range_key][0]
    out = []
    for title, name, scale, unit, fmt in CHARTS:
        points = [(t.ts, v / scale) for t in rows if (v := getattr(t, name)) is not None]
        out.append((title, unit, fmt, line(points, start, now.timestamp())))
    return out


def _as_typed(policy: autoscale.Policy) -> dict[str, str]:
    """The policy's figures as the form shows them (80, not 80.0; empty for none)."""
    out = {}
    for name in autoscale.POLICY_FIELDS:
        value = getattr(policy, name)
        out[name] = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return out


@bp.route("/")
@fleet_view("costs.tenant")
def index(scope: Scope) -> str:
    now = utcnow()
    rows = costs.costs_for(scope, now)
    fleet = costs.fleet_cost(rows, now)
    return render_template(
        "costs/index.html",
        rows=rows,
        fleet=fleet,
        now=now,
        charts=_charts("90d"),
        shared=allocation.allocate(rows, now),
        idle=allocation.IDLE,
    )


@bp.route("/<slug>")
@tenant_view
def tenant(scope: Scope, tenant: Tenant) -> str:
    now = utcnow()
    found = costs.tenant_cost(tenant, now)
    shared = allocation.fleet(now)
    history = bars([(f"{month:%b %Y}", float(cost)) for month, cost in found.history])
    policy = autoscale.policy_of(tenant)
    return render_template(
        "costs/tenant.html",
        cost=found,
        history=history,
        budget_form=BudgetForm(budget=found.budget or ""),
        policy=policy,
        policy_form=AutoScalePolicyForm(data=_as_typed(policy)),
        shared=shared,
        share=allocation.share_of(shared, tenant),
        now=utcnow(),
        charts=_charts("30d", tenant.id),
    )


@bp.route("/<slug>/budget", methods=["POST"])
@tenant_form(BudgetForm, "Check the form: the budget is an amount of at most 20 characters.", "costs.tenant")
def set_budget(scope: Scope, tenant: Tenant, form: BudgetForm) -> str:
    budget = costs.set_budget(scope, tenant, form.budget.data)
    return f"Budget of {tenant.slug}: {f'${budget} a month' if budget else 'none'}."


@bp.route("/<slug>/autoscale", methods=["POST"])
@tenant_view
def set_autoscale(scope: Scope, tenant: Tenant) -> Response:
    """The tenant's auto-scaling mode (webapp.services.autoscale)."""
    try:
        mode = autoscale.set_tenant_mode(scope, tenant, request.form.get("mode"))
    except MailfleetWebError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Auto-scaling of {tenant.slug}'s servers: {mode.value}.", "success")
    return redirect(url_for("costs.tenant", slug=tenant.slug))


@bp.route("/<slug>/autoscale/policy", methods=["POST"])
@tenant_form(AutoScalePolicyForm, page="costs.tenant")
def set_autoscale_policy(scope: Scope, tenant: Tenant, form: AutoScalePolicyForm) -> str:
    """The tenant's auto-scaling policy, set by administrators (Reset: back to the defaults)."""
    if request.form.get("reset"):
        autoscale.clear_policy(scope, tenant)
        return f"Auto-scaling policy of {tenant.slug}: the defaults."
    typed = {name: getattr(form, name).data for name in autoscale.POLICY_FIELDS}
    autoscale.set_policy(scope, tenant, typed)
    return f"Auto-scaling policy of {tenant.slug} saved."
