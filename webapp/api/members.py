"""A tenant's members and their API tokens: list, add, remove a member; revoke a token."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import ConfirmSchema, errors, resource, scope
from webapp.api.schemas import MemberSchema
from webapp.models import User
from webapp.services import accounts, lifecycle

blp = resource("members", "Members of a tenant and their API tokens.")


class NewMemberSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))


class RemovedSchema(Schema):
    removed = fields.String(metadata={"description": "the removed member's email"})


class RevokedSchema(Schema):
    revoked = fields.String(metadata={"description": "the email whose token was revoked"})


@blp.route("/tenants/<slug>/members", methods=["GET"])
@errors(blp, 404)
@blp.response(200, MemberSchema(many=True))
def list_members(slug: str) -> list[User]:
    return list(scope().tenant(slug).users)


@blp.route("/tenants/<slug>/members", methods=["POST"])
@errors(blp, 400, 403, 404, 409)
@blp.arguments(NewMemberSchema)
@blp.response(201, MemberSchema)
def add_member(data: dict[str, Any], slug: str) -> User:
    return accounts.add_member(scope(), scope().tenant(slug), data["email"], data["password"])


@blp.route("/tenants/<slug>/members/<int:user_id>", methods=["DELETE"])
@errors(blp, 400, 403, 404)
@blp.arguments(ConfirmSchema)
@blp.response(200, RemovedSchema)
def remove_member(data: dict[str, Any], slug: str, user_id: int) -> dict[str, str]:
    return {"removed": lifecycle.remove_member(scope(), scope().tenant(slug), user_id, data["confirm"])}


@blp.route("/users/<int:user_id>/token", methods=["DELETE"])
@errors(blp, 400, 403, 404)
@blp.arguments(ConfirmSchema)
@blp.response(200, RevokedSchema)
def revoke_token(data: dict[str, Any], user_id: int) -> dict[str, str]:
    return {"revoked": lifecycle.revoke_api_token(scope(), user_id, data["confirm"])}
