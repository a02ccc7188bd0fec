"""A server's usage charts and capacity (forecasts, the recommended plan), and resizing it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.api.usage import senders_document, server_export
from webapp.errors import MailfleetWebError
from webapp.forms import ConfirmForm
from webapp.models import AutoScale, Server, Tenant
from webapp.services import autoscale, capacity, usage
from webapp.services.scope import Scope
from webapp.views import back_with_error, tenant_view
from webapp.views.charts import line

bp = Blueprint("capacity", __name__)

#: The charts of the usage page: (title, figure, the figure that is 100 %, unit).
CHARTS = (
    ("CPU (5-minute load per CPU)", "cpu_pct", None, "%"),
    ("Memory used", "mem_used_mb", "mem_total_mb", "MB"),
    ("Disk used", "disk_used_mb", "disk_total_mb", "MB"),
    ("Bandwidth used this month", "bw_used_gb", "bw_total_gb", "GB"),
    ("Mail queue (deferred)", "queue_deferred", None, "messages"),
    ("Mailboxes", "mailboxes", None, ""),
    ("Mail stored in mailboxes", "mailbox_mb", None, "MB"),
)


@bp.route("/servers/<int:server_id>/usage")
@login_required
def server(server_id: int) -> str:
    scope = Scope(current_user)
    found = scope.get(Server, server_id)
    range_key = request.args.get("range", "24h")
    now = utcnow()
    history = usage.series(found, range_key, now)
    span = usage.RANGES[range_key][0]
    start, end = now.timestamp() - span, now.timestamp()
    charts = []
    for title, name, ceiling, unit in CHARTS:
        top = history.latest(ceiling) if ceiling else None
        charts.append((title, unit, line(history.points(name), start, end, top)))
    plans, plans_error = capacity.offered_plans(found.provider)
    return render_template(
        "capacity/server.html",
        server=found,
        range_key=range_key,
        ranges=list(usage.RANGES),
        charts=charts,
        top=senders_document(found, range_key),
        cap=capacity.capacity(found, now, plans),
        plans=plans,
        plans_error=plans_error,
        modes=[m.value for m in AutoScale],
        decisions=autoscale.decisions(found),
        cooldown_hours=autoscale.cooldown_hours(found),
    )


@bp.route("/servers/<int:server_id>/autoscale", methods=["POST"])
@login_required
def autoscale_mode(server_id: int) -> Response:
    scope = Scope(current_user)
    found = scope.get(Server, server_id)
    try:
        autoscale.set_server_mode(scope, found, request.form.get("mode"))
    except MailfleetWebError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Auto-scaling of {found.name}: {found.autoscale_mode.value}.", "success")
    return redirect(url_for("capacity.server", server_id=server_id))


@bp.route("/servers/<int:server_id>/usage.csv")
@login_required
def server_csv(server_id: int) -> Response:
    """The samples of a chart range as CSV, as the API exports them."""
    found = Scope(current_user).get(Server, server_id)
    return server_export(found, request.args.get("range", "24h"), "csv")


@bp.route("/tenants/<slug>/servers/<int:server_id>/resize", methods=["GET", "POST"])
@tenant_view
def resize(scope: Scope, tenant: Tenant, server_id: int) -> Response | str:
    plan = request.values.get("plan")
    try:
        found = capacity.resize_plan(scope, tenant, server_id, plan)
    except MailfleetWebError as exc:
        flash(str(exc), "error")
        return redirect(url_for("capacity.server", server_id=server_id))
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(f"Type {found.server.name} to confirm.", "error")
            return redirect(url_for("capacity.resize", slug=tenant.slug, server_id=server_id, plan=plan))
        try:
            run = capacity.resize_server(
                scope, tenant, server_id, plan, form.confirm.data, form.submission_key.data
            )
        except MailfleetWebError as exc:
            return back_with_error(exc, "capacity.resize", slug=tenant.slug, server_id=server_id, plan=plan)
        flash(f"Resize of {found.server.name} to {found.target.name} queued as run {run.id}.", "success")
        return redirect(url_for("runs.detail", run_id=run.id))
    return render_template("capacity/resize.html", tenant=tenant, resize=found, form=form, plan=plan)
