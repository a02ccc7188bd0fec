"""Tenants: list the ones the token may see, create one (administrators), delete one."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from mailfleet.validation import TENANT_SLUG
from webapp.api.base import ConfirmSchema, errors, resource, scope
from webapp.api.schemas import TenantSchema
from webapp.models import Tenant
from webapp.services import failover, fleet, lifecycle, tenants

blp = resource("tenants", "Tenants: the customers whose servers, domains and mailboxes these are.")


class NewTenantSchema(Schema):
    slug = fields.String(required=True, validate=validate.Regexp(TENANT_SLUG))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class TenantChangeSchema(Schema):
    """Admins only; each field present is changed, the others are left as they are."""

    home_region = fields.String(allow_none=True, metadata={"description": "us, eu or asia; null clears it"})
    failover_auto = fields.Boolean(
        metadata={"description": "true: a server down beyond the failover threshold is recovered unasked"}
    )


class TenantDeletedSchema(Schema):
    deleted = fields.String(metadata={"description": "the deleted tenant's slug"})


@blp.route("/tenants", methods=["GET"])
@errors(blp)
@blp.response(200, TenantSchema(many=True))
def list_tenants() -> list[Tenant]:
    return [row["tenant"] for row in tenants.list_tenants(scope())]


@blp.route("/tenants", methods=["POST"])
@errors(blp, 400, 403, 409)
@blp.arguments(NewTenantSchema)
@blp.response(201, TenantSchema)
def create_tenant(data: dict[str, Any]) -> Tenant:
    return tenants.create_tenant(scope(), data["slug"], data["name"])


@blp.route("/tenants/<slug>", methods=["PATCH"])
@errors(blp, 400, 403, 404)
@blp.arguments(TenantChangeSchema)
@blp.response(200, TenantSchema)
def change_tenant(data: dict[str, Any], slug: str) -> Tenant:
    tenant = scope().tenant(slug)
    scope().require_admin()  # before anything changes, whichever fields came
    if "home_region" in data:
        fleet.set_home_region(scope(), tenant, data["home_region"])
    if "failover_auto" in data:
        failover.set_failover_auto(scope(), tenant, data["failover_auto"])
    return tenant


@blp.route("/tenants/<slug>", methods=["DELETE"])
@errors(blp, 400, 403, 404)
@blp.arguments(ConfirmSchema)
@blp.response(200, TenantDeletedSchema)
def delete_tenant(data: dict[str, Any], slug: str) -> dict[str, str]:
    return {"deleted": lifecycle.delete_tenant(scope(), scope().tenant(slug), data["confirm"])}
