"""A tenant's mailboxes: list, create a batch, delete one, reset a password.

New passwords exist only in the answer that shows them, so those answers are never cached.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import ConfirmSchema, errors, resource, scope
from webapp.api.schemas import MailboxSchema
from webapp.errors import InvalidInput
from webapp.models import Mailbox
from webapp.services import fleet, lifecycle, mailboxes

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
