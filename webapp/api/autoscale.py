"""Auto-scaling per tenant and per server (webapp.services.autoscale): the mode (off, recommend,
act; a server's ``tenant`` means its tenant's), the tenant's policy (thresholds, max plan, max
monthly spend, cooldown) and what auto-scaling decided about a server, with why. Setting a mode
takes a role that may spend (act orders resizes); the policy is set by administrators and read by
the tenant's people."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from webapp.api.base import errors, resource, scope
from webapp.models import AutoScale, ScaleAction, Server, Tenant
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


def _figure(low: int, high: int, description: str) -> fields.Float:
    """A policy's figure: documented with its bounds, checked by the service (a clear 400)."""
    return fields.Float(
        allow_none=True,
        metadata={"minimum": low, "maximum": high, "description": f"{description}; null: the default"},
    )


class PolicyChangeSchema(Schema):
    cpu_p95_pct = _figure(1, 100, "grow past this 95th percentile CPU, %")
    mem_p99_pct = _figure(1, 100, "... or this 99th percentile memory, %")
    disk_full_days = _figure(1, 100, "... or a disk full within these days")
    max_plan = fields.String(
        allow_none=True,
        validate=validate.Length(max=120),
        metadata={"description": "the largest plan an upsize may order (id or name); null: any offered"},
    )
    max_monthly_spend = fields.Decimal(
        as_string=True,
        allow_none=True,
        metadata={
            "type": "string",
            "example": "40.00",
            "description": "the most the tenant's run rate may be after an upsize (at most its budget); "
            "null: no limit but the budget",
        },
    )
    cooldown_hours = _figure(0, 8760, "hours after a server's last resize")


class PolicySchema(Schema):
    tenant = fields.String()
    mode = fields.String(metadata={"enum": _MODES, "description": "the tenant's mode (off: not opted in)"})
    own = fields.Boolean(metadata={"description": "false: the tenant has no policy, the defaults apply"})
    cpu_p95_pct = fields.Float()
    mem_p99_pct = fields.Float()
    disk_full_days = fields.Float()
    max_plan = fields.String(allow_none=True)
    max_monthly_spend = fields.Decimal(as_string=True, allow_none=True, metadata={"type": "string"})
    cooldown_hours = fields.Float()
    budget = fields.Decimal(
        as_string=True, allow_none=True, metadata={"type": "string", "description": "the tenant's budget"}
    )


def policy_document(tenant: Tenant, policy: autoscale.Policy) -> dict[str, Any]:
    return {
        "tenant": tenant.slug,
        "mode": tenant.autoscale.value,
        "own": policy.own,
        **{name: getattr(policy, name) for name in autoscale.POLICY_FIELDS},
        "budget": tenant.monthly_budget,
    }


def server_document(found: Server) -> dict[str, Any]:
    return {
        "server": found.name,
        "mode": found.autoscale_mode.value,
        "own_mode": found.autoscale.value if found.autoscale is not None else None,
        "tenant_mode": found.tenant.autoscale.value if found.tenant is not None else AutoScale.OFF.value,
        "cooldown_hours": autoscale.cooldown_hours(found),
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


@blp.route("/tenants/<slug>/autoscale/policy")
class TenantPolicy(MethodView):
    @errors(blp, 404)
    @blp.response(200, PolicySchema)
    def get(self, slug: str) -> dict[str, Any]:
        """The tenant's auto-scaling policy (``own`` false: the defaults apply)."""
        tenant = scope().tenant(slug)
        return policy_document(tenant, autoscale.policy_of(tenant))

    @errors(blp, 400, 403, 404)
    @blp.arguments(PolicyChangeSchema)
    @blp.response(200, PolicySchema)
    def put(self, data: dict[str, Any], slug: str) -> dict[str, Any]:
        """Set the tenant's policy, whole (a missing field takes the default); administrators only.
        A policy with a threshold outside 1 to 100, a negative cooldown, a max plan the provider
        does not offer or smaller than a server's current plan, or a max spend above the tenant's
        budget is refused and nothing is stored."""
        tenant = scope().tenant(slug)
        return policy_document(tenant, autoscale.set_policy(scope(), tenant, data))

    @errors(blp, 403, 404)
    @blp.response(200, PolicySchema)
    def delete(self, slug: str) -> dict[str, Any]:
        """Drop the tenant's policy: the defaults apply again; administrators only."""
        tenant = scope().tenant(slug)
        return policy_document(tenant, autoscale.clear_policy(scope(), tenant))
