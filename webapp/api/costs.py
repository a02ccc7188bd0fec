"""Costs as JSON: every tenant's month the caller sees (administrators also get the servers no
tenant owns, as ``unassigned``), and one tenant's with its servers and its monthly history.

Amounts are dollars as strings with two decimals. ``projected`` is the month's cost if what runs
now keeps running until the month ends; ``breach`` is when that run rate reaches the budget;
``sent`` the messages sent this month and ``per_thousand`` the month to date per 1,000 of them.
``extras`` are the priced extras (backup storage, bandwidth over a plan's allowance, new main IP
addresses, IPv4 addresses held beside the main one), counted in the tenant's month beside its servers.
Administrators also get the fleet's line against its budget. ``?format=csv`` answers one row per
server instead (webapp.services.costs.COLUMNS). ``/costs/allocation`` splits the servers no tenant
owns over the tenants by the chosen driver (webapp.services.allocation): administrators get every
line and the servers; a tenant's people get their tenant's line alone.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from webapp.api.base import FormatSchema, errors, exported, resource, scope
from webapp.exports import csv_download
from webapp.services import allocation, costs

blp = resource("costs", "What each tenant's servers cost: month to date, projection, budget, history.")


def _dollars(description: str = "", *, allow_none: bool = False) -> fields.Decimal:
    metadata = {"type": "string", "example": "12.99", "description": description}
    return fields.Decimal(as_string=True, metadata=metadata, allow_none=allow_none)


class MonthSchema(Schema):
    to_date = _dollars()
    projected = _dollars()
    run_rate = _dollars("monthly price of what runs now")


def _messages() -> dict[str, fields.Field]:
    return {
        "sent": fields.Integer(metadata={"description": "messages sent this month"}),
        "per_thousand": _dollars("month to date per 1,000 messages sent; null: none sent", allow_none=True),
    }


class ServerCostSchema(Schema.from_dict(_messages())):  # type: ignore[misc]
    name = fields.String()
    server_id = fields.Integer(allow_none=True)
    plan = fields.String(allow_none=True)
    monthly_price = _dollars(allow_none=True)
    month = fields.Nested(MonthSchema)


class MonthlySchema(Schema):
    month = fields.Function(
        lambda item: f"{item[0]:%Y-%m}", metadata={"type": "string", "example": "2026-11"}
    )
    cost = fields.Function(lambda item: str(item[1]), metadata={"type": "string", "example": "12.99"})


class BudgetedSchema(Schema.from_dict(_messages())):  # type: ignore[misc]
    month = fields.Nested(MonthSchema)
    budget = _dollars(allow_none=True)
    used_pct = fields.Decimal(as_string=True, allow_none=True, metadata={"type": "string"})
    breach = fields.DateTime(allow_none=True)


class ExtraCostSchema(Schema):
    what = fields.String(
        metadata={
            "description": "backup storage, bandwidth over the allowance, new IP addresses, or IP addresses "
            "beside the main one"
        }
    )
    server = fields.String(allow_none=True, metadata={"description": "null: the tenant's (backup storage)"})
    quantity = fields.Decimal(
        as_string=True,
        metadata={"type": "string", "description": "GB held, GB used over the allowance, or addresses"},
    )
    unit_price = _dollars("a GB a month (backup), a GB over (bandwidth), an address once (new) or a month")
    detail = fields.String()
    month = fields.Nested(MonthSchema)


class TenantCostSchema(BudgetedSchema):
    tenant = fields.String(attribute="slug", metadata={"description": "unassigned: servers no tenant owns"})
    servers = fields.List(fields.Nested(ServerCostSchema))
    extras = fields.List(
        fields.Nested(ExtraCostSchema),
        metadata={"description": "priced extras, counted in the month (settings MAILFLEET_PRICE_*)"},
    )
    history = fields.List(fields.Nested(MonthlySchema), metadata={"description": "oldest month first"})


class CostListSchema(Schema):
    tenants = fields.List(fields.Nested(TenantCostSchema))
    fleet = fields.Nested(
        BudgetedSchema,
        allow_none=True,
        metadata={"description": "every server against MAILFLEET_FLEET_BUDGET; administrators only"},
    )


def _csv(name: str, rows: list[costs.TenantCost]) -> Response:
    return csv_download(f"{name}-costs-{utcnow():%Y-%m}.csv", costs.COLUMNS, costs.server_records(rows))


@blp.route("/costs", methods=["GET"])
@errors(blp)
@blp.arguments(FormatSchema, location="query")
@blp.response(200, CostListSchema)
@exported(blp)
def list_costs(args: dict[str, Any]) -> dict[str, Any] | Response:
    caller, now = scope(), utcnow()
    rows = costs.costs_for(caller, now)
    if args["format"] == "csv":
        return _csv("fleet" if caller.is_admin else caller.own_tenant.slug, rows)
    return {"tenants": rows, "fleet": costs.fleet_cost(rows, now) if caller.is_admin else None}


@blp.route("/tenants/<slug>/costs", methods=["GET"])
@errors(blp, 404)
@blp.arguments(FormatSchema, location="query")
@blp.response(200, TenantCostSchema)
@exported(blp)
def tenant_costs(args: dict[str, Any], slug: str) -> costs.TenantCost | Response:
    found = costs.tenant_cost(scope().tenant(slug), utcnow())
    return _csv(found.slug, [found]) if args["format"] == "csv" else found


class ShareSchema(Schema):
    tenant = fields.String(metadata={"description": f"a tenant's slug, or {allocation.IDLE}: idle capacity"})
    quantity = fields.Decimal(
        as_string=True, metadata={"type": "string", "description": "the driver's figure (see unit)"}
    )
    month = fields.Nested(MonthSchema)


class AllocationSchema(Schema):
    driver = fields.String(
        metadata={"enum": list(allocation.UNITS), "description": "setting MAILFLEET_COST_ALLOCATION_DRIVER"}
    )
    idle = fields.String(metadata={"enum": ["line", "shared"], "description": "setting MAILFLEET_COST_IDLE"})
    unit = fields.String(metadata={"description": "what quantity counts"})
    servers = fields.List(
        fields.Nested(ServerCostSchema), metadata={"description": "the shared servers; administrators only"}
    )
    month = fields.Nested(
        MonthSchema, allow_none=True, metadata={"description": "what they cost; administrators only"}
    )
    shares = fields.List(
        fields.Nested(ShareSchema),
        metadata={"description": "administrators: every tenant's, adding up to month; others: their own"},
    )


@blp.route("/costs/allocation", methods=["GET"])
@errors(blp)
@blp.response(200, AllocationSchema)
def cost_allocation() -> dict[str, Any]:
    """The servers no tenant owns (the control plane's own, spares), their month split over the
    tenants, to the cent, by disk in use, mailboxes or messages sent, with idle capacity as its
    own line or shared."""
    return allocation.document(scope(), utcnow())
