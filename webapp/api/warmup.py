"""A server's sending reputation: its main IP history, and switching it to a new main IP (a run)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from webapp.api.base import IDEMPOTENCY_KEY, ConfirmSchema, errors, idempotency_key, resource, scope
from webapp.api.schemas import RunSchema
from webapp.models import IpChange, Run, Server
from webapp.services import ipswitch

blp = resource("warmup", "A server's sending IP: its history, and switching it to a new one (a run).")


class IpChangeSchema(Schema):
    old_ip = fields.String()
    new_ip = fields.String()
    run_id = fields.Integer(allow_none=True, metadata={"description": "none: seen at the provider"})
    changed_at = fields.DateTime()


def _server(slug: str, server_id: int) -> Server:
    tenant = scope().tenant(slug)
    server = scope().get(Server, server_id)
    if server.tenant_id != tenant.id:
        return scope().get(Server, -1)  # 404, as for a server that does not exist
    return server


@blp.route("/tenants/<slug>/servers/<int:server_id>/addresses", methods=["GET"])
@errors(blp, 404)
@blp.response(200, IpChangeSchema(many=True))
def addresses(slug: str, server_id: int) -> list[IpChange]:
    return ipswitch.history(_server(slug, server_id))


@blp.route("/tenants/<slug>/servers/<int:server_id>/switch-ip", methods=["POST"])
@errors(blp, 400, 403, 404, 409)
@blp.arguments(ConfirmSchema)
@blp.response(202, RunSchema)
@blp.doc(parameters=[IDEMPOTENCY_KEY])
def switch_ip(data: dict[str, Any], slug: str, server_id: int) -> Run:
    """Move the server to a new main IP; `confirm` is the server's name."""
    return ipswitch.switch_ip(scope(), scope().tenant(slug), server_id, data["confirm"], idempotency_key())
