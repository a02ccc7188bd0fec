"""Costs: every tenant's month for administrators, a tenant's own for its people, and budgets."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.forms import BudgetForm
from webapp.services import costs, usage
from webapp.services.scope import Scope
from webapp.views import form_post
from webapp.views.charts import Line, bars, line

bp = Blueprint("costs", __name__, url_prefix="/costs")


def _disk_chart(range_key: str, tenant_id: int | None = None) -> Line:
    """Disk in use over the range, summed over the fleet's (or the tenant's) servers, in GB."""
    now = utcnow()
    points = [
        (t.ts, t.disk_used_mb / 1024) for t in usage.totals(range_key, now, tenant_id) if t.disk_used_mb
    ]
    return line(points, now.timestamp() - usage.RANGES[range_key][0], now.timestamp())


@bp.route("/")
@login_required
def index() -> Response | str:
    scope = Scope(current_user)
    if not scope.is_admin:
        return redirect(url_for("costs.tenant", slug=current_user.tenant.slug))
    rows = costs.costs_for(scope, utcnow())
    return render_template("costs/index.html", rows=rows, now=utcnow(), disk=_disk_chart("90d"))


@bp.route("/<slug>")
@login_required
def tenant(slug: str) -> str:
    scope = Scope(current_user)
    found = costs.tenant_cost(scope.tenant(slug), utcnow())
    history = bars([(f"{month:%b %Y}", float(cost)) for month, cost in found.history])
    return render_template(
        "costs/tenant.html",
        cost=found,
        history=history,
        budget_form=BudgetForm(budget=found.budget or ""),
        now=utcnow(),
        disk=_disk_chart("30d", found.tenant.id),
    )


@bp.route("/<slug>/budget", methods=["POST"])
@login_required
def set_budget(slug: str) -> Response:
    scope = Scope(current_user)
    tenant = scope.tenant(slug)
    form = BudgetForm()

    def act() -> str:
        budget = costs.set_budget(scope, tenant, form.budget.data)
        return f"Budget of {tenant.slug}: {f'${budget} a month' if budget else 'none'}."

    invalid = "Check the form: the budget is an amount of at most 20 characters."
    return form_post(form, invalid, act, "costs.tenant", {"slug": slug})
