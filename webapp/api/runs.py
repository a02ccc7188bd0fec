"""Playbook runs: list with filters, start a catalogue playbook, read one and its events, cancel, retry."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from webapp import playbooks
from webapp.api.base import errors, idempotency_key, resource, scope, submission
from webapp.api.schemas import RunEventSchema, RunSchema
from webapp.errors import InvalidInput
from webapp.models import Run, RunEvent, RunStatus, RunTrigger
from webapp.routing import MAX_ID
from webapp.services import runs

blp = resource("runs", "Playbook runs: what was run where, its live events, cancel and retry.")


NOT_EMPTY = validate.Length(min=1)  # an empty filter is a mistake, not "any"


class RunFiltersSchema(Schema):
    tenant = fields.String(load_default=None, validate=NOT_EMPTY, metadata={"description": "a tenant's slug"})
    status = fields.Enum(RunStatus, by_value=True, load_default=None)
    playbook = fields.String(load_default=None, validate=NOT_EMPTY)
    host = fields.String(load_default=None, validate=NOT_EMPTY)
    trigger = fields.Enum(RunTrigger, by_value=True, load_default=None)


class NewRunSchema(Schema):
    playbook = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "a catalogue key that runs directly"},
    )
    limit = fields.String(load_default=None, validate=validate.Length(min=1, max=255))


class EventsQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "the last event counter already read"},
    )


@blp.route("/runs", methods=["GET"])
@errors(blp)
@blp.arguments(RunFiltersSchema, location="query")
@blp.response(200, RunSchema(many=True))
def list_runs(query: dict[str, Any]) -> list[Run]:
    filters = runs.RunFilters(
        tenant_slug=query["tenant"],
        status=query["status"],
        playbook=query["playbook"],
        host=query["host"],
        trigger=query["trigger"],
    )
    return runs.list_runs(scope(), filters)


@submission(blp, "/tenants/<slug>/runs", "POST", NewRunSchema, RunSchema)
def submit_run(data: dict[str, Any], slug: str) -> Run:
    key = data["playbook"]
    playbook = playbooks.by_key(key)
    if playbook is None or not playbook.direct:
        raise InvalidInput(f"{key!r} cannot be run directly; use the servers, domains or actions endpoints")
    return runs.submit_run(
        scope(), scope().tenant(slug), key, limit=data["limit"], submission_key=idempotency_key()
    )


@blp.route("/runs/<int:run_id>", methods=["GET"])
@errors(blp, 404)
@blp.response(200, RunSchema)
def get_run(run_id: int) -> Run:
    return runs.get_run(scope(), run_id)


@blp.route("/runs/<int:run_id>/events", methods=["GET"])
@errors(blp, 404)
@blp.arguments(EventsQuerySchema, location="query")
@blp.response(200, RunEventSchema(many=True))
def run_events(query: dict[str, Any], run_id: int) -> list[RunEvent]:
    return runs.events_after(scope(), run_id, query["after"])


@blp.route("/runs/<int:run_id>/cancel", methods=["POST"])
@errors(blp, 403, 404, 409)
@blp.response(200, RunSchema)
def cancel_run(run_id: int) -> Run:
    return runs.cancel_run(scope(), run_id)


@submission(blp, "/runs/<int:run_id>/retry", "POST", None, RunSchema)
def retry_run(run_id: int) -> Run:
    return runs.retry_run(scope(), run_id, idempotency_key())
