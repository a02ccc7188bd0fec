"""Endpoints for the reverse proxy, monitors and Prometheus: ``/healthz`` (the process answers),
``/readyz`` (it can do its work) and ``/metrics`` (an administrator's API token, or session)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import metrics
from webapp.extensions import csrf
from webapp.services import accounts, readiness

bp = Blueprint("ops", __name__)
csrf.exempt(bp)


@bp.route("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz() -> tuple[Response, int]:
    found = readiness.checks()
    ready = all(check.ok for check in found)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in found},
    }
    return jsonify(body), 200 if ready else 503


def _administrator() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        user = accounts.user_for_api_token(token.strip())
        return user is not None and user.is_admin
    return current_user.is_authenticated and current_user.is_admin


@bp.route("/metrics")
def metrics_page() -> Response:
    if not _administrator():
        response = Response("an administrator's API token is required (Authorization: Bearer <token>)\n", 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE)
