"""One serializer per model: what the API (and the run page's live updates) answer for each object.

The OpenAPI document describes responses with these same schemas, so the document and the answers
cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from mailfleet.regions import Region
from webapp.models import DomainStatus, Role, RunStatus, RunTrigger, ServerStatus
from webapp.services import dnsdoctor, health, runs

__all__ = [
    "AlertSchema",
    "AlertSummarySchema",
    "CheckSchema",
    "DomainDnsSchema",
    "DomainSchema",
    "MailboxSchema",
    "MemberSchema",
    "RunEventSchema",
    "RunSchema",
    "ServerSchema",
    "TenantSchema",
]


class TenantSchema(Schema):
    slug = fields.String()
    name = fields.String()
    home_region = fields.Enum(Region, by_value=True, allow_none=True)
    failover_auto = fields.Boolean()
    created_at = fields.DateTime()


class ServerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    tenant = fields.Pluck(TenantSchema, "slug", allow_none=True)
    provider_id = fields.Integer(allow_none=True)
    public_ipv4 = fields.String(allow_none=True)
    public_ipv6 = fields.String(allow_none=True)
    location = fields.String(allow_none=True)
    region = fields.Enum(Region, by_value=True, allow_none=True, dump_only=True)
    plan = fields.String(allow_none=True)
    monthly_price = fields.Decimal(
        as_string=True, allow_none=True, metadata={"type": "string", "example": "12.99"}
    )
    status = fields.Enum(ServerStatus, by_value=True)


class DomainSchema(Schema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "IDNA A-label form"})
    server = fields.Function(lambda d: d.server.name, metadata={"type": "string"})
    tenant = fields.Pluck(TenantSchema, "slug")
    status = fields.Enum(DomainStatus, by_value=True)
    status_reason = fields.String(allow_none=True)
    dns_status = fields.String(allow_none=True, metadata={"description": "the DNS doctor's readiness"})
    secondary_mx = fields.Function(
        lambda d: d.secondary_server.name if d.secondary_server else None,
        allow_none=True,
        metadata={"type": "string", "nullable": True,
                  "description": "the server that queues the domain's mail while its own is down"},
    )


class DomainDnsSchema(DomainSchema):
    """A domain with the DNS doctor's last report (findings, propagation) and its readiness."""

    checked_at = fields.DateTime(attribute="dns_checked_at", allow_none=True)
    propagation_seconds = fields.Integer(attribute="dns_propagation_seconds", allow_none=True)
    mailboxes_refused = fields.Function(
        dnsdoctor.readiness_refusal,
        allow_none=True,
        metadata={"type": "string", "nullable": True, "description": "why mailboxes are refused yet"},
    )
    report = fields.Dict(attribute="dns_report", allow_none=True)


class MailboxSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    quota_bytes = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class MemberSchema(Schema):
    """A tenant's user; the token itself is never shown again, only its first characters."""

    id = fields.Integer()
    email = fields.String()
    tenant = fields.Pluck(TenantSchema, "slug", allow_none=True)
    role = fields.Enum(Role, by_value=True)
    api_token_hint = fields.String(allow_none=True)


class FailureSchema(Schema):
    host = fields.String(allow_none=True)
    task = fields.String(allow_none=True)
    message = fields.String()
    counter = fields.Integer(metadata={"description": "the event to jump to"})


class RunSchema(Schema):
    id = fields.Integer()
    tenant = fields.Pluck(TenantSchema, "slug")
    playbook = fields.String()
    catalogue_key = fields.String(allow_none=True)
    trigger = fields.Enum(RunTrigger, by_value=True)
    limit = fields.String(allow_none=True)
    extravars = fields.Dict()
    status = fields.Enum(RunStatus, by_value=True)
    finished = fields.Boolean(attribute="status.finished")
    rc = fields.Integer(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    failure = fields.Nested(
        FailureSchema, allow_none=True, metadata={"description": "where a failed run failed first"}
    )
    recap = fields.Dict(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    retry_of = fields.Integer(attribute="retry_of_id", allow_none=True)
    event_count = fields.Integer()

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "failure":
            return runs.first_failure(obj)
        return super().get_attribute(obj, attr, default)


class RunEventSchema(Schema):
    counter = fields.Integer()
    event = fields.String()
    host = fields.String(attribute="host_name", allow_none=True)
    task = fields.String(allow_none=True)
    failed = fields.Boolean()
    changed = fields.Boolean()
    stdout = fields.String(allow_none=True)


class AlertEventSchema(Schema):
    at = fields.DateTime()
    kind = fields.String()
    detail = fields.String()
    by = fields.String(allow_none=True)


class AlertSummarySchema(Schema):
    """An alert as lists show it; AlertSchema adds its timeline."""

    id = fields.Integer()
    server = fields.String(attribute="server_name")
    server_id = fields.Integer(allow_none=True)
    check = fields.String()
    severity = fields.String()
    state = fields.String()
    detail = fields.String()
    link = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class AlertSchema(AlertSummarySchema):
    timeline = fields.List(fields.Nested(AlertEventSchema), attribute="events")


class CheckSchema(Schema):
    check = fields.String()
    section = fields.Function(lambda c: health.section_of(c.check), metadata={"type": "string"})
    status = fields.String(attribute="last_status", allow_none=True)
    value = fields.Raw(attribute="last_value", allow_none=True)
    detail = fields.String(attribute="last_detail")
    link = fields.String(attribute="last_link", allow_none=True)
    checked_at = fields.DateTime(attribute="last_checked_at", allow_none=True)
    alert_id = fields.Integer(allow_none=True)
