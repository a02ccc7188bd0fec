"""Costs as JSON: every tenant's month the caller sees (administrators also get the servers no
tenant owns, as ``unassigned``), and one tenant's with its servers and its monthly history.

Amounts are dollars as strings with two decimals. ``projected`` is the month's cost if what runs
now keeps running until the month ends; ``breach`` is when that run rate reaches the budget.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from mailfleet.clock import utcnow
from webapp.api.base import errors, resource, scope
from webapp.services import costs

blp = resource("costs", "What each tenant's servers cost: month to date, projection, budget, history.")


def _dollars(description: str = "", **options: bool) -> fields.Decimal:
    metadata = {"type": "string", "example": "12.99", "description": description}
    return fields.Decimal(as_string=True, metadata=metadata, **options)


class MonthSchema(Schema):
    to_date = _dollars()
    projected = _dollars()
    run_rate = _dollars("monthly price of what runs now")


class ServerCostSchema(Schema):
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


class TenantCostSchema(Schema):
    tenant = fields.String(attribute="slug", metadata={"description": "unassigned: servers no tenant owns"})
    month = fields.Nested(MonthSchema)
    budget = _dollars(allow_none=True)
    used_pct = fields.Decimal(as_string=True, allow_none=True, metadata={"type": "string"})
    breach = fields.DateTime(allow_none=True)
    servers = fields.List(fields.Nested(ServerCostSchema))
    history = fields.List(fields.Nested(MonthlySchema), metadata={"description": "oldest month first"})


class CostListSchema(Schema):
    tenants = fields.List(fields.Nested(TenantCostSchema))


@blp.route("/costs", methods=["GET"])
@errors(blp)
@blp.response(200, CostListSchema)
def list_costs() -> dict[str, list[costs.TenantCost]]:
    return {"tenants": costs.costs_for(scope(), utcnow())}


@blp.route("/tenants/<slug>/costs", methods=["GET"])
@errors(blp, 404)
@blp.response(200, TenantCostSchema)
def tenant_costs(slug: str) -> costs.TenantCost:
    return costs.tenant_cost(scope().tenant(slug), utcnow())
