"""Fleet rollouts (administrators): one catalogue playbook across the servers of many tenants, a
run per server, a set share in flight, a stop once failures pass a threshold."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import errors, resource, scope
from webapp.api.schemas import TenantSchema
from webapp.models import Rollout, RolloutStatus
from webapp.services import rollouts

blp = resource("rollouts", "Fleet rollouts: a playbook across many tenants' servers, a share at a time.")


class NewRolloutSchema(Schema):
    playbook = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "a catalogue key that may be rolled out (site, backup, ...)"},
    )
    share = fields.String(
        required=True,
        validate=validate.Length(min=1, max=8),
        metadata={"description": "runs in flight at once: a share of the servers ('25%') or a count ('3')"},
    )
    failure_threshold = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "stop once more than this percentage of the servers failed (0 to 100)"},
    )
    tenants = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        load_default=None,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "tenants' slugs; every tenant when absent"},
    )


class RolloutTargetSchema(Schema):
    server = fields.String(attribute="server.name")
    tenant = fields.Pluck(TenantSchema, "slug")
    run_id = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "pending (its turn has not come), else its run's status"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "status":
            return obj.run.status.value if obj.run is not None else "pending"
        return super().get_attribute(obj, attr, default)


class RolloutSummarySchema(Schema):
    id = fields.Integer()
    playbook = fields.String(attribute="catalogue_key")
    share = fields.String()
    in_flight = fields.Integer(metadata={"description": "the most runs unfinished at once"})
    failure_threshold = fields.Integer()
    status = fields.Enum(RolloutStatus, by_value=True)
    stop_reason = fields.String(allow_none=True)
    created_by = fields.String(attribute="created_by.email")
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    progress = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "servers pending, in flight, and by their run's final status"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "progress":
            return rollouts.progress(obj)
        return super().get_attribute(obj, attr, default)


class RolloutSchema(RolloutSummarySchema):
    targets = fields.List(fields.Nested(RolloutTargetSchema), metadata={"description": "in their order"})


@blp.route("/rollouts", methods=["GET"])
@errors(blp)
@blp.response(200, RolloutSummarySchema(many=True))
def list_rollouts() -> list[Rollout]:
    return rollouts.list_rollouts(scope())


@blp.route("/rollouts", methods=["POST"])
@errors(blp, 400, 403)
@blp.arguments(NewRolloutSchema)
@blp.response(201, RolloutSchema)
def start_rollout(data: dict[str, Any]) -> Rollout:
    return rollouts.start_rollout(
        scope(), data["playbook"], data["share"], data["failure_threshold"], data["tenants"]
    )


@blp.route("/rollouts/<int:rollout_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, RolloutSchema)
def get_rollout(rollout_id: int) -> Rollout:
    return rollouts.get_rollout(scope(), rollout_id)


@blp.route("/rollouts/<int:rollout_id>/stop", methods=["POST"])
@errors(blp, 404, 409)
@blp.response(200, RolloutSchema)
def stop_rollout(rollout_id: int) -> Rollout:
    return rollouts.stop_rollout(scope(), rollout_id)

