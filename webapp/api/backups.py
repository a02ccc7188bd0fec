"""Backups: a server's backup status with the snapshots a restore can pick, a tenant's restores
and recoveries with their recovery point and time, and its restore drills on throwaway servers
(started by the scheduler with MAILFLEET_BACKUP_DRILL_TARGET=host, or by POST here). A restore
itself is an action: POST /tenants/<slug>/actions/restore; a recovery starts at POST
/tenants/<slug>/recoveries.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from webapp.api.base import errors, resource, scope
from webapp.services import backupregions, backups, drills, fleet, recovery

blp = resource("backups", "Backup status per server and the restores of a tenant.")


def _step(step: backups.Step | None) -> dict[str, Any] | None:
    """A step's outcome with the host's own figures for it (files, bytes, duration ...)."""
    if step is None:
        return None
    extra = {k: v for k, v in step.data.items() if k not in ("at", "ok", "error")}
    return {"at": step.at.isoformat() if step.at else None, "ok": step.ok, "error": step.error, **extra}


def _step_field(attribute: str) -> fields.Function:
    return fields.Function(
        lambda status: _step(getattr(status, attribute)),
        allow_none=True,
        metadata={"type": "object", "nullable": True, "description": "at, ok, error and the step's figures"},
    )


class SnapshotSchema(Schema):
    id = fields.String()
    short_id = fields.String()
    time = fields.DateTime()


class BackupStatusSchema(Schema):
    server = fields.Pluck("ServerSchema", "name")
    collected_at = fields.DateTime()
    last_success = fields.DateTime(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    growth_bytes_24h = fields.Integer(attribute="growth_bytes")
    repository_bytes = fields.Integer(allow_none=True)
    last_run = _step_field("backup")
    retention = _step_field("retention")
    check = _step_field("check")
    drill = _step_field("drill")
    copy = _step_field("copy")
    snapshots = fields.List(fields.Nested(SnapshotSchema))


class ServerBackupSchema(Schema):
    status = fields.Nested(
        BackupStatusSchema, allow_none=True, metadata={"description": "null before the first report"}
    )


def _seconds_field(attribute: str) -> fields.Function:
    """A timedelta attribute (RPO, RTO) in whole seconds, null when unknown."""

    def dump(obj: Any) -> int | None:
        value = getattr(obj, attribute)
        return None if value is None else round(value.total_seconds())

    return fields.Function(dump, metadata={"type": "integer", "nullable": True})


class RecoveryFiguresSchema(Schema):
    """What a restore and a recovery onto a new server restored, with their recovery point and time."""

    snapshot_id = fields.String(allow_none=True)
    snapshot_time = fields.DateTime(allow_none=True)
    requested_at = fields.DateTime()
    in_service_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "when the restored server ran again (RTO's end; a recovery: served the domains)"
        },
    )
    rpo_seconds = _seconds_field("rpo")
    rto_seconds = _seconds_field("rto")


class RestoreSchema(RecoveryFiguresSchema):
    run_id = fields.Integer(attribute="run.id", metadata={"description": "a recovery: its first run"})
    kind = fields.String(metadata={"description": "restore, or recovery (onto a new server)"})
    status = fields.String(
        metadata={"description": "the run's status; a recovery's: running, failed, successful"}
    )
    server = fields.String(attribute="target", allow_none=True)
    source = fields.String(allow_none=True)
    finished_at = fields.DateTime(
        allow_none=True, metadata={"description": "a recovery: its last step's end"}
    )


class RestoreListSchema(Schema):
    restores = fields.List(fields.Nested(RestoreSchema))


@blp.route("/backups/servers/<int:server_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, ServerBackupSchema)
def server_status(server_id: int) -> dict[str, Any]:
    return {"status": backups.server_status(scope(), server_id)}


@blp.route("/backups/tenants/<slug>/restores", methods=["GET"])
@errors(blp, 404)
@blp.response(200, RestoreListSchema)
def tenant_restores(slug: str) -> dict[str, Any]:
    return {"restores": recovery.restores_and_recoveries(scope(), scope().tenant(slug))}


class DrillStepSchema(Schema):
    key = fields.String()
    title = fields.String()
    run_id = fields.Integer(
        attribute="run.id", allow_none=True, metadata={"description": "null: not submitted"}
    )
    status = fields.String(attribute="run.status", allow_none=True)


class DrillSchema(RecoveryFiguresSchema):
    """A drill on a throwaway server: requested_at its start, in_service_at (RTO's end) when the
    restored data checked out there."""

    run_id = fields.Integer(attribute="first.id", metadata={"description": "the run that ordered the server"})
    status = fields.String(metadata={"description": "running, passed or failed"})
    server = fields.String(attribute="source", metadata={"description": "the server whose backup is drilled"})
    throwaway_server = fields.String(attribute="host")
    deleted = fields.Boolean(attribute="torn_down", metadata={"description": "the throwaway server is gone"})
    problem = fields.String(allow_none=True)
    ended_at = fields.DateTime(
        allow_none=True, metadata={"description": "the throwaway server's deletion ended"}
    )
    steps = fields.List(fields.Nested(DrillStepSchema))


class DrillListSchema(Schema):
    drills = fields.List(fields.Nested(DrillSchema))


class NewDrillSchema(Schema):
    server_id = fields.Integer(required=True, metadata={"description": "the server whose backup to drill"})


class BackupCopySchema(Schema):
    server = fields.String()
    region = fields.String(
        allow_none=True, metadata={"description": "the server's own region (null: unmapped)"}
    )
    copy_region = fields.String(
        allow_none=True, metadata={"description": "the region of its second repository; null: none elsewhere"}
    )
    copy_where = fields.String(allow_none=True, metadata={"description": "the storage, without credentials"})
    detail = fields.String(metadata={"description": "why there, or why its backups stay in one region"})


class BackupCopyListSchema(Schema):
    copies = fields.List(fields.Nested(BackupCopySchema))


@blp.route("/backups/tenants/<slug>/copies", methods=["GET"])
@errors(blp, 404)
@blp.response(200, BackupCopyListSchema)
def tenant_copies(slug: str) -> dict[str, Any]:
    """Where each server's backups are copied (the deployment's storage outside its region)."""
    servers = fleet.list_servers(scope(), scope().tenant(slug))
    found = backupregions.placements(servers)
    copies = []
    for s in servers:
        copy = found[s.id]
        copies.append({"server": s.name, "region": s.region.value if s.region else None,
                       "copy_region": copy["region"], "copy_where": copy["where"], "detail": copy["detail"]})
    return {"copies": copies}


@blp.route("/backups/tenants/<slug>/drills", methods=["GET"])
@errors(blp, 404)
@blp.response(200, DrillListSchema)
def tenant_drills(slug: str) -> dict[str, Any]:
    return {"drills": drills.drills(scope(), scope().tenant(slug))}


@blp.route("/backups/tenants/<slug>/drills", methods=["POST"])
@errors(blp, 400, 404, 409)
@blp.arguments(NewDrillSchema)
@blp.response(202, DrillSchema)
def start_drill(body: dict[str, Any], slug: str) -> drills.Drill:
    tenant = scope().tenant(slug)
    first = drills.start_drill(scope(), tenant, body["server_id"])
    return drills.drill(scope(), tenant, first.id)
