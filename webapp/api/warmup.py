"""A server's sending reputation: its warm-up day, today's caps against today's counts (per receiver
group), its main IP history, and switching it to a new main IP (a run)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from webapp.api.base import (
    ConfirmSchema,
    errors,
    idempotency_key,
    resource,
    scope,
    submission,
)
from webapp.api.schemas import RunSchema
from webapp.models import IpChange, Run, Server
from webapp.services import ipswitch, mailstats, warmup

blp = resource("warmup", "A server's sending IP: its history, and switching it to a new one (a run).")


class IpChangeSchema(Schema):
    old_ip = fields.String()
    new_ip = fields.String()
    run_id = fields.Integer(allow_none=True, metadata={"description": "none: seen at the provider"})
    changed_at = fields.DateTime()


class GroupCountsSchema(Schema):
    sent = fields.Integer()
    deferred = fields.Integer()
    bounced = fields.Integer()
    reputation_deferrals = fields.Integer()


class DayCountsSchema(GroupCountsSchema):
    day = fields.Date()
    received = fields.Integer()
    rejected = fields.Integer()
    collected_at = fields.DateTime()
    groups = fields.Dict(
        keys=fields.String(), values=fields.Nested(GroupCountsSchema),
        metadata={"description": "per receiver group: gmail, microsoft, yahoo, apple, other"},
    )


class RecentDaySchema(Schema):
    day = fields.Date()
    sent = fields.Integer(allow_none=True, metadata={"description": "delivered; none: not counted"})
    cap = fields.Integer(
        allow_none=True,
        metadata={"description": "the plan's daily cap that day, as the plan stands now; none: no plan "
                                 "yet, or warm"},
    )


class GroupCapsSchema(Schema):
    daily_cap = fields.Integer(allow_none=True, metadata={"description": "today's; none: not capped"})
    hourly_cap = fields.Integer(allow_none=True)


class ListingHoldSchema(Schema):
    daily_cap = fields.Integer()
    hourly_cap = fields.Integer()
    usual_daily = fields.Integer(
        metadata={"description": "the median day it sent in the week before the listing; 0: none counted"}
    )
    since = fields.DateTime()
    checks = fields.List(fields.String(), metadata={"description": "the listings (dnsbl:<zone>:<address>)"})


class WarmupSchema(Schema):
    sending_ip = fields.String(allow_none=True)
    curve = fields.String(allow_none=True, metadata={"description": "none: no plan, the IP is not capped"})
    day = fields.Integer(allow_none=True, metadata={"description": "the warm-up day (held days not counted)"})
    daily_cap = fields.Integer(allow_none=True, metadata={"description": "today's; none: not capped"})
    hourly_cap = fields.Integer(allow_none=True)
    next_day = fields.Integer(allow_none=True)
    next_daily_cap = fields.Integer(allow_none=True)
    backoff_until = fields.Date(allow_none=True)
    backoff_factor = fields.Float(allow_none=True)
    groups = fields.Dict(
        keys=fields.String(), values=fields.Nested(GroupCapsSchema),
        metadata={"description": "per receiver group (gmail, microsoft, yahoo, apple, other): its own caps "
                                 "today, enforced per recipient by the server's Postfix; empty: no plan"},
    )
    listing_hold = fields.Nested(
        ListingHoldSchema, allow_none=True,
        metadata={"description": "a server without a plan, critically listed on a blocklist: its IP's caps "
                                 "(a tenth of its usual day, at least 50) until the listing's alert "
                                 "resolves; none: not held"},
    )
    today = fields.Nested(DayCountsSchema, allow_none=True, metadata={"description": "none: not counted yet"})
    days = fields.List(
        fields.Nested(RecentDaySchema),
        metadata={"description": "the last 30 days, oldest first: delivered against the plan's cap"},
    )


class SwitchIpSchema(ConfirmSchema):
    override_cooldown = fields.Boolean(
        load_default=False,
        metadata={"description": "administrators only: switch within the cooldown after the last "
                                 "change (recorded with the run)"},
    )


def _server(slug: str, server_id: int) -> Server:
    tenant = scope().tenant(slug)
    server = scope().get(Server, server_id)
    if server.tenant_id != tenant.id:
        return scope().get(Server, -1)  # 404, as for a server that does not exist
    return server


@blp.route("/tenants/<slug>/servers/<int:server_id>/warmup", methods=["GET"])
@errors(blp, 404)
@blp.response(200, WarmupSchema)
def status(slug: str, server_id: int) -> dict[str, Any]:
    server = _server(slug, server_id)
    on = warmup.today()
    found = warmup.status(warmup.plan_of(server), on)
    hold = None if found.plan else warmup.hold_of(server)
    today = found.today or hold
    return {
        "sending_ip": server.public_ipv4,
        "curve": found.plan.curve if found.plan else None,
        "day": found.day,
        "daily_cap": today.daily if today else None,
        "hourly_cap": today.hourly if today else None,
        "next_day": found.next.day if found.next else None,
        "next_daily_cap": found.next.daily if found.next else None,
        "backoff_until": found.backoff.until if found.backoff else None,
        "backoff_factor": found.backoff.factor if found.backoff else None,
        "groups": {
            name: {"daily_cap": step.daily if step else None, "hourly_cap": step.hourly if step else None}
            for name, step in found.groups.items()
        },
        "listing_hold": hold and {
            "daily_cap": hold.daily, "hourly_cap": hold.hourly, "usual_daily": hold.usual_daily,
            "since": hold.since, "checks": hold.checks,
        },
        "today": mailstats.day_counts(server, on),
        "days": mailstats.recent_days(server, on),
    }


@blp.route("/tenants/<slug>/servers/<int:server_id>/addresses", methods=["GET"])
@errors(blp, 404)
@blp.response(200, IpChangeSchema(many=True))
def addresses(slug: str, server_id: int) -> list[IpChange]:
    return ipswitch.history(_server(slug, server_id))


@submission(blp, "/tenants/<slug>/servers/<int:server_id>/switch-ip", "POST", SwitchIpSchema, RunSchema)
def switch_ip(data: dict[str, Any], slug: str, server_id: int) -> Run:
    """Move the server to a new main IP; `confirm` is the server's name. Within the cooldown after
    its last address change the answer is 409, naming when the next switch is allowed."""
    return ipswitch.switch_ip(
        scope(), scope().tenant(slug), server_id, data["confirm"], idempotency_key(),
        override_cooldown=data["override_cooldown"],
    )
