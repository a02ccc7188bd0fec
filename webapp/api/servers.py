"""A tenant's servers: list, provision one (a run), resize one to another plan (a run), deprovision
one (a run)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import (
    ConfirmSchema,
    errors,
    idempotency_key,
    resource,
    scope,
    submission,
)
from webapp.api.schemas import RunSchema, ServerSchema
from webapp.models import Run, Server
from webapp.services import capacity, fleet, lifecycle

blp = resource("servers", "A tenant's mail servers; provisioning and deprovisioning start runs.")


class PlacementSchema(Schema):
    """Where a new server goes and its plan: a new order, or the new server of a recovery."""

    location = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "a location the provider offers; without it, placed in `region`"},
    )
    region = fields.String(
        validate=validate.Length(min=1, max=16),
        metadata={"description": "us, eu or asia; without it and `location`, the tenant's home region"},
    )
    plan = fields.String(required=True, validate=validate.Length(min=1, max=64))


class NewServerSchema(PlacementSchema):
    mail_hostname = fields.String(required=True, validate=validate.Length(min=1, max=253))
    provider = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "hostwinds or digitalocean (of MAILFLEET_PROVIDERS); default: the first"},
    )


@blp.route("/tenants/<slug>/servers", methods=["GET"])
@errors(blp, 404)
@blp.response(200, ServerSchema(many=True))
def list_servers(slug: str) -> list[Server]:
    return fleet.list_servers(scope(), scope().tenant(slug))


@submission(blp, "/tenants/<slug>/servers", "POST", NewServerSchema, RunSchema, 429)
def provision(data: dict[str, Any], slug: str) -> Run:
    return fleet.provision_server(
        scope(),
        scope().tenant(slug),
        data.get("location"),
        data["plan"],
        data["mail_hostname"],
        idempotency_key(),
        region=data.get("region"),
        provider_name=data.get("provider"),
    )


class ResizeSchema(Schema):
    plan = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the target plan's id or name (GET /servers/<id>/capacity names one)"},
    )
    confirm = fields.String(
        load_default=None,
        metadata={"description": "the server's name, typed again: the resize changes its monthly cost"},
    )


@submission(blp, "/tenants/<slug>/servers/<int:server_id>/resize", "POST", ResizeSchema, RunSchema)
def resize(data: dict[str, Any], slug: str, server_id: int) -> Run:
    """Move the server to another plan, as the usage page's Resize does: people who may spend only,
    one resize per tenant at a time, none within the cooldown of the server's last one, within the
    tenant's spending limit."""
    return capacity.resize_server(
        scope(), scope().tenant(slug), server_id, data["plan"], data["confirm"], idempotency_key()
    )


@submission(blp, "/tenants/<slug>/servers/<int:server_id>", "DELETE", ConfirmSchema, RunSchema)
def deprovision(data: dict[str, Any], slug: str, server_id: int) -> Run:
    return lifecycle.deprovision_server(
        scope(), scope().tenant(slug), server_id, data["confirm"], idempotency_key()
    )
