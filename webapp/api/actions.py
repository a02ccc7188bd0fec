"""One-off actions on a tenant's servers, each a run: back up now, restore, rotate keys."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp.api.base import idempotency_key, object_id, resource, scope, submission
from webapp.api.schemas import RunSchema
from webapp.models import Run
from webapp.services import actions

blp = resource("actions", "Back up now, restore, rotate keys: each starts a run.")


def before_field() -> fields.String:
    """A restore's point in time (the services layer reads and checks it)."""
    return fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "restore: 'YYYY-MM-DD HH:MM:SS' UTC; empty or absent for the latest"},
    )


class ActionSchema(Schema):
    server_id = object_id(load_default=None, allow_none=True, metadata={"description": "backup and restore"})
    before = before_field()
    source_server_id = object_id(
        load_default=None, allow_none=True, metadata={"description": "restore from another server"}
    )


@submission(blp, "/tenants/<slug>/actions/<key>", "POST", ActionSchema, RunSchema)
def start_action(data: dict[str, Any], slug: str, key: str) -> Run:
    return actions.start_action(
        scope(),
        scope().tenant(slug),
        key,
        server_id=data["server_id"],
        restore_before=data["before"] or None,
        source_server_id=data["source_server_id"],
        submission_key=idempotency_key(),
    )
