"""A tenant's mailboxes: list, create a batch, delete one, reset a password.

New passwords exist only in the answer that shows them, so those answers are never cached.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from mailfleet.clock import utcnow
from webapp.api.base import ConfirmSchema, errors, resource, scope
from webapp.api.schemas import MailboxSchema
from webapp.errors import InvalidInput
from webapp.models import AttemptResult, Mailbox
from webapp.services import fleet, lifecycle, mailboxes, setup_times

blp = resource("mailboxes", "A tenant's mailboxes on its domains.")

NO_STORE = {"Cache-Control": "no-store"}


class NewMailboxesSchema(Schema):
    domain = fields.String(required=True, validate=validate.Length(min=1, max=253))
    names = fields.List(
        fields.String(validate=validate.Length(max=64)),
        required=True,
        metadata={"description": "the mailbox names (the part before the @)"},
    )
    quota_bytes = fields.Integer(strict=True, load_default=None, allow_none=True)
    dns_override = fields.Boolean(
        load_default=False,
        metadata={"description": "administrators: create them although the domain's DNS is not ready"},
    )


class CreatedMailboxSchema(Schema):
    email = fields.String()
    password = fields.String(allow_none=True, metadata={"description": "shown only in this answer"})


class MailboxBatchSchema(Schema):
    created = fields.List(fields.Nested(CreatedMailboxSchema))
    failed = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "email: why"})
    skipped = fields.List(fields.String())
    error = fields.String(allow_none=True)


class AttemptSchema(Schema):
    email = fields.String()
    result = fields.Enum(AttemptResult, by_value=True)
    seconds = fields.Float(allow_none=True, metadata={"description": "Mailu's answer time; none: not sent"})
    reason = fields.String(allow_none=True, metadata={"description": "why it was not created"})
    attempted_at = fields.DateTime()


class AttemptDaySchema(Schema):
    day = fields.Date()
    attempts = fields.Integer(metadata={"description": "mailboxes asked for that UTC day"})
    created = fields.Integer()
    success_rate = fields.Float(
        allow_none=True, metadata={"description": "created / attempts; none: none asked for"}
    )
    p50_seconds = fields.Float(allow_none=True, metadata={"description": "median time of the created ones"})
    p95_seconds = fields.Float(allow_none=True, metadata={"description": "95th percentile (nearest rank)"})


class AttemptsSchema(Schema):
    days = fields.List(fields.Nested(AttemptDaySchema), metadata={"description": "the last 30 UTC days"})
    attempts = fields.List(
        fields.Nested(AttemptSchema), metadata={"description": "the last 100, newest first"}
    )


class MailboxDeletedSchema(Schema):
    deleted = fields.String(metadata={"description": "the deleted mailbox's email"})


class PasswordSchema(Schema):
    email = fields.String()
    password = fields.String(metadata={"description": "shown only in this answer"})


@blp.route("/tenants/<slug>/mailboxes", methods=["GET"])
@errors(blp, 404)
@blp.response(200, MailboxSchema(many=True))
def list_mailboxes(slug: str) -> list[Mailbox]:
    return mailboxes.list_mailboxes(scope(), scope().tenant(slug))


@blp.route("/tenants/<slug>/mailboxes/attempts", methods=["GET"])
@errors(blp, 404)
@blp.response(200, AttemptsSchema)
def mailbox_attempts(slug: str) -> dict[str, Any]:
    """Every mailbox asked of the tenant's Mailu, created or not, with its time: per day over the
    last 30 days, and the last attempts."""
    tenant = scope().tenant(slug)
    return {
        "days": setup_times.days(scope(), tenant, utcnow().date()),
        "attempts": setup_times.recent_attempts(scope(), tenant),
    }


@blp.route("/tenants/<slug>/mailboxes", methods=["POST"])
@errors(blp, 400, 403, 404, 502)
@blp.arguments(NewMailboxesSchema)
@blp.response(201, MailboxBatchSchema, description="every mailbox was created")
@blp.alt_response(207, schema=MailboxBatchSchema, description="some were not: see failed and error")
def create_mailboxes(data: dict[str, Any], slug: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    tenant = scope().tenant(slug)
    domain = next((d for d in fleet.list_domains(scope(), tenant) if d.name == data["domain"]), None)
    if domain is None:
        raise InvalidInput(f"{data['domain']!r} is not one of this tenant's domains")
    batch = mailboxes.create_mailboxes(
        scope(), tenant, domain.id, data["names"], data["quota_bytes"], dns_override=data["dns_override"]
    )
    answer = {
        "created": [{"email": e, "password": batch.passwords.get(e)} for e in batch.created],
        "failed": batch.failed,
        "skipped": batch.skipped,
        "error": batch.error,
    }
    status = 201 if batch.created and not batch.failed and not batch.error else 207
    return answer, status, NO_STORE


@blp.route("/tenants/<slug>/mailboxes/<int:mailbox_id>", methods=["DELETE"])
@errors(blp, 400, 403, 404, 502)
@blp.arguments(ConfirmSchema)
@blp.response(200, MailboxDeletedSchema)
def delete_mailbox(data: dict[str, Any], slug: str, mailbox_id: int) -> dict[str, str]:
    return {"deleted": lifecycle.delete_mailbox(scope(), scope().tenant(slug), mailbox_id, data["confirm"])}


@blp.route("/tenants/<slug>/mailboxes/<int:mailbox_id>/password", methods=["POST"])
@errors(blp, 400, 403, 404, 502)
@blp.arguments(ConfirmSchema)
@blp.response(200, PasswordSchema)
def reset_password(data: dict[str, Any], slug: str, mailbox_id: int) -> tuple[dict[str, str], int, dict]:
    email, password = lifecycle.reset_mailbox_password(
        scope(), scope().tenant(slug), mailbox_id, data["confirm"]
    )
    return {"email": email, "password": password}, 200, NO_STORE
