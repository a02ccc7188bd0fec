"""Health pages: the status board per server, a check's history, alerts with their timeline."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.errors import Conflict, InvalidInput
from webapp.forms import ActionForm
from webapp.services import backups, delisting, failover, health
from webapp.services.scope import Scope
from webapp.views import button_post

bp = Blueprint("health", __name__)
REFUSALS = (InvalidInput, Conflict)  # shown on the page; NotFound stays a 404


def every(seconds: int) -> str:
    """A cadence in words: "every 90 seconds", "every minute", "every 5 minutes"."""
    minutes, rest = divmod(seconds, 60)
    if rest:
        return f"every {seconds} seconds"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


@bp.app_template_global()
def sweep_cadence() -> str:
    """How often the health sweep, and with it the facts run, checks each server (the setting
    MAILFLEET_HEALTH_SWEEP_SECONDS), as the pages say it."""
    return every(current_app.config["MAILFLEET_HEALTH_SWEEP_SECONDS"])


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
        down_servers=failover.down_servers(scope),
        failover_after=current_app.config["MAILFLEET_FAILOVER_AFTER_MINUTES"],
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
    def act() -> str:
        health.check_now(Scope(current_user), server_id)
        return "Check queued: results appear here when the sweep finishes (usually under a minute)."

    return button_post(act, "health.server", {"server_id": server_id}, refused=REFUSALS)


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
    return _alert_action(
        alert_id,
        delisting.request_delisting,
        "Delisting request recorded. Re-check once the list says it is done; the alert resolves "
        "when the address is no longer listed.",
    )


@bp.route("/health/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: int) -> Response:
    return _alert_action(
        alert_id,
        health.acknowledge_alert,
        "Alert acknowledged: it will not escalate; it resolves by itself once the check passes.",
    )


def _alert_action(alert_id: int, action: Callable[[Scope, int, str], object], done: str) -> Response:
    """A button on an alert's page, with the form's note."""
    scope = Scope(current_user)
    health.get_alert(scope, alert_id)  # another tenant's alert: 404 before anything else

    def act() -> str:
        action(scope, alert_id, request.form.get("note", ""))
        return done

    return button_post(act, "health.alert", {"alert_id": alert_id}, refused=REFUSALS)
