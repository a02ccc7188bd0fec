"""Health: a server's status board, checking it now, alerts and acknowledging one."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import errors, resource, scope
from webapp.api.schemas import AlertSchema, AlertSummarySchema, CheckSchema
from webapp.models import HealthAlert
from webapp.services import health

blp = resource("health", "Health checks per server, and the alerts they open.")


class MonitoringSchema(Schema):
    last_sweep_at = fields.DateTime(allow_none=True)
    status = fields.String(allow_none=True)
    detail = fields.String(metadata={"description": "the sweep's error only for administrators"})


class BoardSchema(Schema):
    server = fields.String()
    overall = fields.String()
    monitoring = fields.Nested(MonitoringSchema)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    checks = fields.List(fields.Nested(CheckSchema))


class JobSchema(Schema):
    job_id = fields.String()


class AlertsQuerySchema(Schema):
    state = fields.String(
        load_default=None,
        validate=validate.OneOf(health.ALERT_STATES),
        metadata={"description": "all if absent"},
    )


class AlertListSchema(Schema):
    alerts = fields.List(fields.Nested(AlertSummarySchema))


class AcknowledgeSchema(Schema):
    note = fields.String(load_default="")


def _monitoring() -> dict[str, Any]:
    """The latest sweep's outcome; its error only for administrators."""
    check = health.monitoring()
    if check is None:
        return {"last_sweep_at": None, "status": None, "detail": "no sweep has run yet"}
    failed = check.last_status != "ok"
    return {
        "last_sweep_at": check.last_checked_at,
        "status": check.last_status,
        "detail": check.last_detail if not failed or scope().is_admin else "the health sweep is failing",
    }


@blp.route("/health/servers/<int:server_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, BoardSchema)
def board(server_id: int) -> dict[str, Any]:
    found = health.board(scope(), server_id)
    return {
        "server": found.server.name,
        "overall": found.overall,
        "monitoring": _monitoring(),
        "counts": dict(found.counts),
        "checks": [row.check for _, rows in found.sections for row in rows],
    }


@blp.route("/health/servers/<int:server_id>/check-now", methods=["POST"])
@errors(blp, 400, 404, 409)
@blp.response(202, JobSchema)
def check_now(server_id: int) -> dict[str, str]:
    return {"job_id": health.check_now(scope(), server_id)}


@blp.route("/health/alerts", methods=["GET"])
@errors(blp)
@blp.arguments(AlertsQuerySchema, location="query")
@blp.response(200, AlertListSchema)
def alerts(query: dict[str, Any]) -> dict[str, list[HealthAlert]]:
    return {"alerts": health.list_alerts(scope(), query["state"])}


@blp.route("/health/alerts/<int:alert_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, AlertSchema)
def alert(alert_id: int) -> HealthAlert:
    return health.get_alert(scope(), alert_id)


@blp.route("/health/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@errors(blp, 400, 404, 409)
@blp.arguments(AcknowledgeSchema, required=False)
@blp.response(200, AlertSchema)
def acknowledge(data: dict[str, Any], alert_id: int) -> HealthAlert:
    return health.acknowledge_alert(scope(), alert_id, data.get("note", ""))
