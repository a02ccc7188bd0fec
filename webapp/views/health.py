"""Health pages: the status board per server, a check's history, alerts with their timeline."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.errors import Conflict, InvalidInput
from webapp.forms import ActionForm
from webapp.services import backups, delisting, health
from webapp.services.scope import Scope
from webapp.views import back_with_error

bp = Blueprint("health", __name__)


@bp.route("/health")
@login_required
def index() -> str:
    scope = Scope(current_user)
    return render_template(
        "health/index.html",
        summaries=health.summaries(scope),
        alerts=health.list_alerts(scope, "open", limit=20),
        monitoring=health.monitoring(),
        backups=backups.statuses(scope),
        now=utcnow(),
    )


@bp.route("/health/servers/<int:server_id>")
@login_required
def server(server_id: int) -> str:
    scope = Scope(current_user)
    board = health.board(scope, server_id)
    return render_template(
        "health/server.html",
        board=board,
        monitoring=health.monitoring(),
        form=ActionForm(),
        alerts=health.list_alerts(scope, server_id=server_id, limit=20),
        backup=backups.server_status(scope, server_id),
        now=utcnow(),
    )


@bp.route("/health/servers/<int:server_id>/checks/<path:check>")
@login_required
def check(server_id: int, check: str) -> str:
    scope = Scope(current_user)
    state, results, alerts = health.check_history(scope, server_id, check)
    return render_template(
        "health/check.html",
        state=state,
        results=results,
        alerts=alerts,
        chart=health.value_chart(results),
        points=health.points(results),
    )


@bp.route("/health/servers/<int:server_id>/check-now", methods=["POST"])
@login_required
def check_now(server_id: int) -> Response:
    scope = Scope(current_user)
    if not ActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("health.server", server_id=server_id))
    try:
        health.check_now(scope, server_id)
    except (InvalidInput, Conflict) as exc:  # NotFound stays a 404
        return back_with_error(exc, "health.server", server_id=server_id)
    flash("Check queued: results appear here when the sweep finishes (usually under a minute).", "success")
    return redirect(url_for("health.server", server_id=server_id))


@bp.route("/health/alerts")
@login_required
def alerts() -> str:
    state = request.args.get("state") or None
    return render_template(
        "health/alerts.html",
        alerts=health.list_alerts(Scope(current_user), state),
        state=state,
        states=health.ALERT_STATES,
    )


@bp.route("/health/alerts/<int:alert_id>")
@login_required
def alert(alert_id: int) -> str:
    found = health.get_alert(Scope(current_user), alert_id)
    return render_template(
        "health/alert.html", alert=found, listing=delisting.listing_of(found), form=ActionForm()
    )


@bp.route("/health/alerts/<int:alert_id>/delisting-requested", methods=["POST"])
@login_required
def delisting_requested(alert_id: int) -> Response:
    scope = Scope(current_user)
    health.get_alert(scope, alert_id)  # another tenant's alert: 404 before anything else
    if not ActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("health.alert", alert_id=alert_id))
    try:
        delisting.request_delisting(scope, alert_id, request.form.get("note", ""))
    except (InvalidInput, Conflict) as exc:
        return back_with_error(exc, "health.alert", alert_id=alert_id)
    flash("Delisting request recorded. Re-check once the list says it is done; the alert resolves "
          "when the address is no longer listed.", "success")
    return redirect(url_for("health.alert", alert_id=alert_id))


@bp.route("/health/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: int) -> Response:
    scope = Scope(current_user)
    health.get_alert(scope, alert_id)  # another tenant's alert: 404 before anything else
    if not ActionForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("health.alert", alert_id=alert_id))
    try:
        health.acknowledge_alert(scope, alert_id, request.form.get("note", ""))
    except (InvalidInput, Conflict) as exc:
        return back_with_error(exc, "health.alert", alert_id=alert_id)
    flash("Alert acknowledged: it will not escalate; it resolves by itself once the check passes.", "success")
    return redirect(url_for("health.alert", alert_id=alert_id))
