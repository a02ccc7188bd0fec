"""What every resource module shares: its blueprint (token check included), the caller's scope, the
``Idempotency-Key`` header and the documented error answers.

No session cookie is accepted under /api/v1, so cross-site requests cannot use a browser's login
(which is why these blueprints need no CSRF token). ``Idempotency-Key`` plays the role of the
forms' submission key: the same key twice starts one run; a key the tenant used for another kind
of request is answered 409.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from webapp.api.errors import error_response
from webapp.extensions import csrf
from webapp.routing import MAX_ID
from webapp.services import accounts
from webapp.services.scope import Scope

__all__ = [
    "IDEMPOTENCY_KEY",
    "ConfirmSchema",
    "FormatSchema",
    "errors",
    "exported",
    "idempotency_key",
    "object_id",
    "resource",
    "scope",
    "submission",
]

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 64},
    "description": "Sent again with the same value, the request starts nothing new (same run answered); "
    "a value the tenant already sent with another kind of request is answered 409.",
}


def authenticate() -> Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = accounts.user_for_api_token(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        return error_response(401, "a valid API token is required (Authorization: Bearer <token>)")
    g.scope = Scope(user)
    return None


def resource(name: str, description: str) -> Blueprint:
    """A resource's blueprint: every route behind the Bearer token check."""
    blp = Blueprint(f"api_{name}", f"webapp.api.{name}", description=description)
    csrf.exempt(blp)
    blp.before_request(authenticate)
    return blp


def scope() -> Scope:
    return g.scope


def idempotency_key() -> str | None:
    return request.headers.get("Idempotency-Key") or None


def errors(blp: Blueprint, *codes: int) -> Callable[[F], F]:
    """Document the error answers an operation can give (401 always), all in the one error shape."""

    def decorate(view: F) -> F:
        for code in sorted({401, *codes}):
            view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorate


def submission(
    blp: Blueprint, rule: str, method: str, body: type[Schema] | None, answer: type[Schema], *codes: int
) -> Callable[[F], F]:
    """An operation that starts work and may be sent again with the same ``Idempotency-Key``: its
    route, ``body`` read as its arguments, 202 with ``answer``, and its errors: 400, 403, 404 and
    409 (a refusal, or a key the tenant used for another kind of request) besides ``codes``."""

    def decorate(view: F) -> F:
        view = blp.doc(parameters=[IDEMPOTENCY_KEY])(view)
        view = blp.response(202, answer)(view)
        if body is not None:
            view = blp.arguments(body)(view)
        view = errors(blp, 400, 403, 404, 409, *codes)(view)
        return blp.route(rule, methods=[method])(view)

    return decorate


class FormatSchema(Schema):
    """An export's format: the JSON document, or its rows as a CSV download."""

    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


def exported(blp: Blueprint) -> Callable[[F], F]:
    """Document that the operation's 200 answer is also a CSV download (``?format=csv``); below
    ``blp.response`` so that JSON stays the first content type."""
    return blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True)


class ConfirmSchema(Schema):
    """Taking something away: the object's name, typed again, as on the confirmation pages."""

    confirm = fields.String(load_default=None, metadata={"description": "the object's name"})


def object_id(**options: Any) -> fields.Integer:
    """An id in a body: a number (not a string of digits) within the ids' range."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **options)
