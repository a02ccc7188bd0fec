"""The backup JSON API (same Bearer tokens as /api/v1): a server's backup status, with the
snapshots a restore can pick, and a tenant's restores with their recovery point and time. A
restore itself is started like every action: POST /api/v1/tenants/<slug>/actions/restore."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from webapp.errors import MailfleetWebError
from webapp.extensions import csrf
from webapp.services import backups
from webapp.views import status_of
from webapp.views.api import authenticate, scope

api_bp = Blueprint("backups_api", __name__)
csrf.exempt(api_bp)
api_bp.before_request(authenticate)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _step(step: backups.Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    extra = {k: v for k, v in step.data.items() if k not in ("at", "ok", "error")}
    return {"at": _iso(step.at), "ok": step.ok, "error": step.error, **extra}


def status_json(status: backups.BackupStatus) -> dict[str, Any]:
    return {
        "server": status.server.name,
        "collected_at": _iso(status.collected_at),
        "last_success": _iso(status.last_success),
        "size_bytes": status.size_bytes,
        "growth_bytes_24h": status.growth_bytes,
        "repository_bytes": status.repository_bytes,
        "last_run": _step(status.backup),
        "retention": _step(status.retention),
        "check": _step(status.check),
        "drill": _step(status.drill),
        "snapshots": [{"id": s.id, "short_id": s.short_id, "time": _iso(s.time)} for s in status.snapshots],
    }


@api_bp.errorhandler(MailfleetWebError)
def api_error(exc: MailfleetWebError) -> tuple[Response, int]:
    return jsonify(error=str(exc)), status_of(exc)


@api_bp.route("/servers/<int:server_id>")
def server_status(server_id: int) -> Response:
    status = backups.server_status(scope(), server_id)
    return jsonify(status=None if status is None else status_json(status))


@api_bp.route("/tenants/<slug>/restores")
def tenant_restores(slug: str) -> Response:
    tenant = scope().tenant(slug)
    return jsonify(
        restores=[
            {
                "run_id": r.run.id,
                "status": str(r.run.status),
                "server": r.target,
                "source": r.source,
                "snapshot_id": r.snapshot_id,
                "snapshot_time": _iso(r.snapshot_time),
                "requested_at": _iso(r.run.created_at),
                "finished_at": _iso(r.run.finished_at),
                "rpo_seconds": None if r.rpo is None else round(r.rpo.total_seconds()),
                "rto_seconds": None if r.rto is None else round(r.rto.total_seconds()),
            }
            for r in backups.restores(scope(), tenant)
        ]
    )
