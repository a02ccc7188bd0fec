"""Usage history as JSON: a server's samples over a chart range (the rows of its CSV download), the
totals over a tenant's servers or over every server the caller sees (the fleet for administrators,
their own tenant's servers for anyone else), the mail each of a tenant's mailboxes holds, a
server's busiest senders over a range (the usage page's Top senders card), and a server's capacity:
when its disk and monthly bandwidth run out on their current trend, its CPU and memory percentiles,
and the plan it should be on (the usage page's Capacity card).

Each range reads one resolution: 24h the 5-minute samples, 7d and 30d the hourly rollups, 90d the
daily ones. Times are bucket starts in UTC; an hourly or daily row averages its 5-minute samples
(``cpu_peak_pct``: their highest CPU); a total sums its servers' rows (CPU: their average).
``?format=csv`` answers the same rows as a CSV download.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, overload

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from mailfleet.usage import Forecast
from webapp.api.base import FormatSchema, errors, exported, resource, scope
from webapp.exports import csv_download
from webapp.models import Server
from webapp.services import capacity, mailstats, usage

blp = resource("usage", "Usage history per server, per tenant and over the fleet.")


class RangeSchema(FormatSchema):
    range = fields.String(load_default="24h", validate=validate.OneOf(usage.RANGES))


def _row_schema(name: str, columns: tuple[str, ...], **described: fields.Field) -> type[Schema]:
    """The schema of exported rows (webapp.services.usage.records): time, resolution, figures."""
    found: dict[str, fields.Field] = {
        "time": fields.String(metadata={"format": "date-time"}),
        "resolution_s": fields.Integer(),
    }
    for column in columns[2:]:
        found[column] = described.get(column) or fields.Integer(allow_none=True)
    return Schema.from_dict(found, name=name)


SampleSchema = _row_schema(
    "Sample",
    usage.SAMPLE_COLUMNS,
    samples=fields.Integer(metadata={"description": "the 5-minute samples the row stands for"}),
)
TotalSchema = _row_schema(
    "Total",
    usage.TOTAL_COLUMNS,
    servers=fields.Integer(metadata={"description": "servers with a row in the bucket"}),
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


class SenderSchema(Schema):
    sender = fields.String(
        metadata={"description": "the mailbox that logged in to submit, else the envelope sender"}
    )
    sent = fields.Integer()
    deferred = fields.Integer()
    bounced = fields.Integer()


class TopSendersSchema(Schema):
    server = fields.String()
    range = fields.String()
    first_day = fields.Date(metadata={"description": "the first UTC day counted"})
    last_day = fields.Date(metadata={"description": "the last UTC day counted (today)"})
    senders = fields.List(fields.Nested(SenderSchema), metadata={"description": "busiest first"})


class ForecastSchema(Schema):
    days = fields.Float(allow_none=True, metadata={"description": "until full; null: not growing"})
    left = fields.Float(metadata={"description": "free, in `unit`"})
    unit = fields.String()
    explanation = fields.String()


class DiskForecastSchema(ForecastSchema):
    status = fields.String(
        metadata={"description": "ok, warning (full within the warning days) or error (critical)"}
    )


class RecommendationSchema(Schema):
    direction = fields.String(metadata={"description": "up, down or stay"})
    reason = fields.String()
    plan = fields.String(allow_none=True, metadata={"description": "the target plan's id"})
    plan_name = fields.String(allow_none=True)
    change = fields.Decimal(
        as_string=True,
        allow_none=True,
        metadata={"type": "string", "example": "5.00", "description": "dollars a month, + for more"},
    )


class CapacitySchema(Schema):
    server = fields.String()
    plan = fields.String(allow_none=True)
    history_days = fields.Float(metadata={"description": "days of 5-minute samples (up to 30)"})
    disk = fields.Nested(DiskForecastSchema, allow_none=True)
    bandwidth = fields.Nested(ForecastSchema, allow_none=True)
    cpu_p95 = fields.Float(allow_none=True, metadata={"description": "percent, last 30 days"})
    mem_p99 = fields.Float(allow_none=True, metadata={"description": "percent, last 30 days"})
    recommendation = fields.Nested(RecommendationSchema)
    plans_error = fields.String(
        allow_none=True, metadata={"description": "why the provider's plans are unknown (no recommendation)"}
    )


def _forecast(found: Forecast | None, unit: str, **extra: Any) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "days": found.days,
        "left": found.left,
        "unit": unit,
        "explanation": found.explanation,
        **extra,
    }


def capacity_document(found: Server) -> dict[str, Any]:
    """The server's capacity as the usage page's Capacity card shows it."""
    plans, plans_error = capacity.offered_plans(found.provider)
    cap = capacity.capacity(found, utcnow(), plans)
    advice = cap.recommendation
    return {
        "server": found.name,
        "plan": found.plan,
        "history_days": round(cap.history.total_seconds() / 86400, 2),
        "disk": _forecast(cap.disk, "MB", status=cap.disk_status.value),
        "bandwidth": _forecast(cap.bandwidth, "GB"),
        "cpu_p95": cap.cpu_p95,
        "mem_p99": cap.mem_p99,
        "recommendation": {
            "direction": advice.direction,
            "reason": advice.reason,
            "plan": advice.plan.id if advice.plan else None,
            "plan_name": advice.plan.name if advice.plan else None,
            "change": advice.change,
        },
        "plans_error": plans_error,
    }


def senders_document(found: Server, range_key: str) -> dict[str, Any]:
    """The server's busiest senders over the UTC days a chart range touches (delivery attempts
    out per sender, as the facts run counts them each day)."""
    last = utcnow()
    first = last - timedelta(seconds=usage.RANGES[range_key][0])
    return {
        "server": found.name,
        "range": range_key,
        "first_day": first.date(),
        "last_day": last.date(),
        "senders": mailstats.top_senders(found, first.date(), last.date()),
    }


@overload
def server_export(found: Server, range_key: str, fmt: Literal["csv"]) -> Response: ...
@overload
def server_export(found: Server, range_key: str, fmt: str) -> dict[str, Any] | Response: ...
def server_export(found: Server, range_key: str, fmt: str) -> dict[str, Any] | Response:
    """A server's samples over a range: the JSON document, or its rows as CSV (also the usage
    page's download)."""
    history = usage.series(found, range_key, utcnow())
    rows = usage.records(history.rows, history.step, usage.SAMPLE_COLUMNS)
    if fmt == "csv":
        return csv_download(f"{found.name}-usage-{range_key}.csv", usage.SAMPLE_COLUMNS, rows)
    return {"server": found.name, "range": range_key, "resolution_s": history.step, "rows": rows}


def _totals(over: str, tenant_id: int | None, args: dict[str, Any]) -> dict[str, Any] | Response:
    range_key = args["range"]
    step = usage.RANGES[range_key][1]
    rows = usage.records(usage.totals(range_key, utcnow(), tenant_id), step, usage.TOTAL_COLUMNS)
    if args["format"] == "csv":
        return csv_download(f"{over}-usage-{range_key}.csv", usage.TOTAL_COLUMNS, rows)
    return {"over": over, "range": range_key, "resolution_s": step, "rows": rows}


@blp.route("/servers/<int:server_id>/usage", methods=["GET"])
@errors(blp, 404)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, ServerUsageSchema)
@exported(blp)
def server_usage(args: dict[str, Any], server_id: int) -> dict[str, Any] | Response:
    return server_export(scope().get(Server, server_id), args["range"], args["format"])


@blp.route("/servers/<int:server_id>/capacity", methods=["GET"])
@errors(blp, 404)
@blp.response(200, CapacitySchema)
def server_capacity(server_id: int) -> dict[str, Any]:
    """When the server's disk and bandwidth run out, and the plan it should be on."""
    return capacity_document(scope().get(Server, server_id))


@blp.route("/servers/<int:server_id>/senders", methods=["GET"])
@errors(blp, 404)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, TopSendersSchema)
def server_senders(args: dict[str, Any], server_id: int) -> dict[str, Any]:
    """The server's busiest senders over the range's UTC days."""
    return senders_document(scope().get(Server, server_id), args["range"])


@blp.route("/tenants/<slug>/usage", methods=["GET"])
@errors(blp, 404)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, TotalsSchema)
@exported(blp)
def tenant_usage(args: dict[str, Any], slug: str) -> dict[str, Any] | Response:
    tenant = scope().tenant(slug)
    return _totals(tenant.slug, tenant.id, args)


@blp.route("/usage", methods=["GET"])
@errors(blp)
@blp.arguments(RangeSchema, location="query")
@blp.response(200, TotalsSchema)
@exported(blp)
def visible_usage(args: dict[str, Any]) -> dict[str, Any] | Response:
    caller = scope()
    if caller.is_admin:
        return _totals("fleet", None, args)
    tenant = caller.own_tenant
    return _totals(tenant.slug, tenant.id, args)


@blp.route("/tenants/<slug>/mailboxes/usage", methods=["GET"])
@errors(blp, 404)
@blp.response(200, MailboxUsageListSchema)
def mailboxes_usage(slug: str) -> dict[str, Any]:
    return {"mailboxes": usage.mailbox_usage(scope().tenant(slug))}
