"""Usage history as JSON: a server's samples over a chart range (the rows of its CSV download), the
totals over a tenant's servers or over every server the caller sees (the fleet for administrators,
their own tenant's servers for anyone else), and the mail each of a tenant's mailboxes holds.

Each range reads one resolution: 24h the 5-minute samples, 7d and 30d the hourly rollups, 90d the
daily ones. Times are bucket starts in UTC; an hourly or daily row averages its 5-minute samples
(``cpu_peak_pct``: their highest CPU); a total sums its servers' rows (CPU: their average).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from mailfleet.clock import utcnow
from mailfleet.usage import FIELDS
from webapp.api.base import errors, resource, scope
from webapp.models import Server
from webapp.services import usage

blp = resource("usage", "Usage history per server, per tenant and over the fleet.")


class RangeSchema(Schema):
    range = fields.String(load_default="24h", validate=validate.OneOf(usage.RANGES))


def _figures(names: Any, **more: fields.Field) -> dict[str, fields.Field]:
    time = fields.Function(
        lambda row: usage.bucket_time(row.ts), metadata={"type": "string", "format": "date-time"}
    )
    return {"time": time, **more, **{name: fields.Integer(allow_none=True) for name in names}}


SampleSchema = Schema.from_dict(
    _figures(
        (*FIELDS, "cpu_peak_pct"),
        samples=fields.Integer(metadata={"description": "the 5-minute samples the row stands for"}),
    ),
    name="Sample",
)
TotalSchema = Schema.from_dict(
    _figures(
        ("cpu_pct", *usage.TOTALLED),
        servers=fields.Integer(metadata={"description": "servers with a row in the bucket"}),
    ),
    name="Total",
)


class ServerUsageSchema(Schema):
    server = fields.String()
    range = fields.String()
    resolution_s = fields.Integer()
    rows = fields.List(fields.Nested(SampleSchema))


class TotalsSchema(Schema):
    over = fields.String(metadata={"description": "fleet, or the tenant's slug"})
    range = fields.String()
    resolution_s = fields.Integer()
    rows = fields.List(fields.Nested(TotalSchema))


class MailboxUsageSchema(Schema):
    email = fields.Function(lambda row: row[0].email, metadata={"type": "string"})
    quota_bytes = fields.Function(
        lambda row: row[0].quota_bytes, metadata={"type": "integer", "nullable": True}
    )
    stored_bytes = fields.Function(
        lambda row: row[1].stored_bytes if row[1] else None,
        metadata={"type": "integer", "nullable": True, "description": "null: not sampled yet"},
    )
    sampled_at = fields.Function(
        lambda row: row[1].sampled_at.isoformat() if row[1] else None,
        metadata={"type": "string", "format": "date-time", "nullable": True},
    )


class MailboxUsageListSchema(Schema):
    mailboxes = fields.List(fields.Nested(MailboxUsageSchema))


def _totals(over: str, tenant_id: int | None, range_key: str) -> dict[str, Any]:
    return {
        "over": over,
        "range": range_key,
        "resolution_s": usage.RANGES[range_key][1],
        "rows": usage.totals(range_key, utcnow(), tenant_id),
    }


@blp.route("/servers/<int:server_id>/usage", methods=["GET"])
@errors(blp, 404)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, ServerUsageSchema)
def server_usage(args: dict[str, Any], server_id: int) -> dict[str, Any]:
    found = scope().get(Server, server_id)
    history = usage.series(found, args["range"], utcnow())
    return {"server": found.name, "range": args["range"], "resolution_s": history.step, "rows": history.rows}


@blp.route("/tenants/<slug>/usage", methods=["GET"])
@errors(blp, 404)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, TotalsSchema)
def tenant_usage(args: dict[str, Any], slug: str) -> dict[str, Any]:
    tenant = scope().tenant(slug)
    return _totals(tenant.slug, tenant.id, args["range"])


@blp.route("/usage", methods=["GET"])
@errors(blp)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, TotalsSchema)
def visible_usage(args: dict[str, Any]) -> dict[str, Any]:
    caller = scope()
    if caller.is_admin:
        return _totals("fleet", None, args["range"])
    tenant = caller.user.tenant
    return _totals(tenant.slug, tenant.id, args["range"])


@blp.route("/tenants/<slug>/mailboxes/usage", methods=["GET"])
@errors(blp, 404)
@blp.response(200, MailboxUsageListSchema)
def mailboxes_usage(slug: str) -> dict[str, Any]:
    return {"mailboxes": usage.mailbox_usage(scope().tenant(slug))}
