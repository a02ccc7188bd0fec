"""Auto-scaling per tenant and per server (webapp.services.autoscale): the mode (off, recommend,
act; a server's ``tenant`` means its tenant's) and what auto-scaling decided about a server, with
why. Setting a mode takes a role that may spend (act orders resizes)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from webapp.api.base import errors, resource, scope
from webapp.models import AutoScale, ScaleAction, Server
from webapp.services import autoscale

blp = resource("autoscale", "Auto-scaling per tenant and server: off, recommend or act, and its decisions.")

_MODES = [m.value for m in AutoScale]


class TenantModeSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(_MODES))


class ServerModeSchema(Schema):
    mode = fields.String(
        required=True,
        validate=validate.OneOf([*_MODES, autoscale.AS_TENANT]),
        metadata={"description": "tenant: follow the tenant's mode"},
    )


class TenantAutoScaleSchema(Schema):
    tenant = fields.String()
    mode = fields.String(metadata={"enum": _MODES})


class DecisionSchema(Schema):
    at = fields.DateTime()
    mode = fields.String(metadata={"enum": _MODES})
    action = fields.String(metadata={"enum": [a.value for a in ScaleAction]})
    plan = fields.String(allow_none=True, metadata={"description": "the target plan"})
    change = fields.Decimal(
        as_string=True, allow_none=True, metadata={"type": "string", "description": "dollars a month"}
    )
    reason = fields.String()
    run_id = fields.Integer(allow_none=True, metadata={"description": "the resize run it ordered"})


class ServerAutoScaleSchema(Schema):
    server = fields.String()
    mode = fields.String(metadata={"enum": _MODES, "description": "in effect"})
    own_mode = fields.String(allow_none=True, metadata={"description": "null: the tenant's"})
    tenant_mode = fields.String(metadata={"enum": _MODES})
    cooldown_hours = fields.Float()
    decisions = fields.List(fields.Nested(DecisionSchema), metadata={"description": "newest first"})


def server_document(found: Server) -> dict[str, Any]:
    return {
        "server": found.name,
        "mode": found.autoscale_mode.value,
        "own_mode": found.autoscale.value if found.autoscale is not None else None,
        "tenant_mode": found.tenant.autoscale.value if found.tenant is not None else AutoScale.OFF.value,
        "cooldown_hours": current_app.config["MAILFLEET_AUTOSCALE_COOLDOWN_HOURS"],
        "decisions": [
            {
                "at": d.at,
                "mode": d.mode.value,
                "action": d.action.value,
                "plan": d.plan,
                "change": d.change,
                "reason": d.reason,
                "run_id": d.run_id,
            }
            for d in autoscale.decisions(found)
        ],
    }


@blp.route("/tenants/<slug>/autoscale", methods=["PUT"])
@errors(blp, 400, 403, 404)
@blp.arguments(TenantModeSchema)
@blp.response(200, TenantAutoScaleSchema)
def set_tenant(data: dict[str, Any], slug: str) -> dict[str, Any]:
    """The mode of the tenant's servers that have none of their own."""
    tenant = scope().tenant(slug)
    return {"tenant": tenant.slug, "mode": autoscale.set_tenant_mode(scope(), tenant, data["mode"]).value}


@blp.route("/servers/<int:server_id>/autoscale")
class ServerAutoScale(MethodView):  # one rule for both methods: an id past the largest is a 404
    @errors(blp, 404)
    @blp.response(200, ServerAutoScaleSchema)
    def get(self, server_id: int) -> dict[str, Any]:
        """The server's mode and the latest decisions about it."""
        return server_document(scope().get(Server, server_id))

    @errors(blp, 400, 403, 404)
    @blp.arguments(ServerModeSchema)
    @blp.response(200, ServerAutoScaleSchema)
    def put(self, data: dict[str, Any], server_id: int) -> dict[str, Any]:
        """Set the server's own mode (``tenant``: follow its tenant's)."""
        found = scope().get(Server, server_id)
        autoscale.set_server_mode(scope(), found, data["mode"])
        return server_document(found)
