"""Health pages (status board per server, a check's history, alerts with their timeline) and their
JSON API (same Bearer tokens as /api/v1; no session cookie, so no CSRF token there)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.errors import Conflict, InvalidInput, MailfleetWebError
from webapp.extensions import csrf
from webapp.forms import ActionForm
from webapp.models import HealthAlert, HealthCheck
from webapp.services import backups, health
from webapp.services.scope import Scope
from webapp.views import back_with_error, status_of
from webapp.views.api import authenticate, body, scope

bp = Blueprint("health", __name__)
api_bp = Blueprint("health_api", __name__)
csrf.exempt(api_bp)
api_bp.before_request(authenticate)


# ---------------------------------------------------------------------------------------- pages
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
    return render_template(
        "health/alert.html", alert=health.get_alert(Scope(current_user), alert_id), form=ActionForm()
    )


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


# ----------------------------------------------------------------------------------------- JSON
def alert_json(a: HealthAlert, events: bool = False) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    out: dict[str, Any] = {
        "id": a.id,
        "server": a.server_name,
        "server_id": a.server_id,
        "check": a.check,
        "severity": a.severity,
        "state": a.state,
        "detail": a.detail,
        "link": a.link,
        "opened_at": iso(a.opened_at),
        "acknowledged_at": iso(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "escalated_at": iso(a.escalated_at),
        "resolved_at": iso(a.resolved_at),
    }
    if events:
        out["timeline"] = [
            {"at": iso(e.at), "kind": e.kind, "detail": e.detail, "by": e.by} for e in a.events
        ]
    return out


def check_json(c: HealthCheck) -> dict[str, Any]:
    return {
        "check": c.check,
        "section": health.section_of(c.check),
        "status": c.last_status,
        "value": c.last_value,
        "detail": c.last_detail,
        "link": c.last_link,
        "checked_at": c.last_checked_at.isoformat() if c.last_checked_at else None,
        "alert_id": c.alert_id,
    }


def monitoring_json(c: HealthCheck | None) -> dict[str, Any]:
    """The latest sweep's outcome; its error only for administrators."""
    if c is None:
        return {"last_sweep_at": None, "status": None, "detail": "no sweep has run yet"}
    failed = c.last_status != "ok"
    return {
        "last_sweep_at": c.last_checked_at.isoformat() if c.last_checked_at else None,
        "status": c.last_status,
        "detail": c.last_detail if not failed or scope().is_admin else "the health sweep is failing",
    }


@api_bp.errorhandler(MailfleetWebError)
def api_error(exc: MailfleetWebError) -> tuple[Response, int]:
    return jsonify(error=str(exc)), status_of(exc)


@api_bp.route("/servers/<int:server_id>")
def api_board(server_id: int) -> Response:
    board = health.board(scope(), server_id)
    return jsonify(
        server=board.server.name,
        overall=board.overall,
        monitoring=monitoring_json(health.monitoring()),
        counts=dict(board.counts),
        checks=[check_json(r.check) for _, rows in board.sections for r in rows],
    )


@api_bp.route("/servers/<int:server_id>/check-now", methods=["POST"])
def api_check_now(server_id: int) -> tuple[Response, int]:
    return jsonify(job_id=health.check_now(scope(), server_id)), 202


@api_bp.route("/alerts")
def api_alerts() -> Response:
    return jsonify(
        alerts=[alert_json(a) for a in health.list_alerts(scope(), request.args.get("state") or None)]
    )


@api_bp.route("/alerts/<int:alert_id>")
def api_alert(alert_id: int) -> Response:
    return jsonify(alert_json(health.get_alert(scope(), alert_id), events=True))


@api_bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
def api_acknowledge(alert_id: int) -> Response:
    data = body() if request.content_length else {}
    note = data.get("note", "")
    if not isinstance(note, str):
        raise InvalidInput("'note' must be a string")
    return jsonify(alert_json(health.acknowledge_alert(scope(), alert_id, note), events=True))
