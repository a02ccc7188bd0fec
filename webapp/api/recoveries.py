"""Recovery of a lost server onto a new one: start it, then follow its steps (provision, restore of
the latest snapshot or of the latest at or before `before`, check of the restored data, DNS
switch), each a run submitted once the one before succeeded. The web's recovery page starts it
through the same service."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from webapp.api.actions import before_field
from webapp.api.backups import RecoveryFiguresSchema
from webapp.api.base import errors, idempotency_key, object_id, resource, scope, submission
from webapp.api.schemas import RunSchema
from webapp.api.servers import PlacementSchema
from webapp.services import recovery

blp = resource("recoveries", "A lost server recovered onto a new one, step by step.")


class NewRecoverySchema(PlacementSchema):
    server_id = object_id(required=True, metadata={"description": "the lost server"})
    before = before_field()
    from_copy = fields.Boolean(
        load_default=False,
        metadata={"description": "true: restore from the lost server's backup copy in another region"},
    )
    confirm = fields.Boolean(
        load_default=False, metadata={"description": "true: a new server is ordered and DNS moves to it"}
    )


class StepSchema(Schema):
    key = fields.String()
    title = fields.String()
    run = fields.Nested(RunSchema, allow_none=True, metadata={"description": "null: not submitted"})


class RecoverySchema(RecoveryFiguresSchema):
    id = fields.Integer(attribute="first.id", metadata={"description": "the id of its first run"})
    status = fields.String(metadata={"description": "running, failed or successful"})
    lost_server = fields.String()
    new_server = fields.String()
    steps = fields.List(fields.Nested(StepSchema))


@submission(blp, "/tenants/<slug>/recoveries", "POST", NewRecoverySchema, RecoverySchema)
def start(data: dict[str, Any], slug: str) -> recovery.Recovery:
    tenant = scope().tenant(slug)
    run = recovery.start_recovery(
        scope(),
        tenant,
        data["server_id"],
        data.get("location"),
        data["plan"],
        idempotency_key(),
        region=data.get("region"),
        restore_before=data["before"],
        from_copy=data["from_copy"],
        confirmed=data["confirm"],
    )
    return recovery.recovery(scope(), tenant, run.id)


@blp.route("/tenants/<slug>/recoveries", methods=["GET"])
@errors(blp, 404)
@blp.response(200, RecoverySchema(many=True))
def list_recoveries(slug: str) -> list[recovery.Recovery]:
    return recovery.recoveries(scope(), scope().tenant(slug))


@blp.route("/tenants/<slug>/recoveries/<int:run_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, RecoverySchema)
def status(slug: str, run_id: int) -> recovery.Recovery:
    return recovery.recovery(scope(), scope().tenant(slug), run_id)
