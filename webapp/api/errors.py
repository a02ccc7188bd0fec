"""The API's one error shape, for every status it answers with (400, 401, 403, 404, 409, 422, 429, ...):

    {"error": "<what went wrong, safe to show>", "status": 404, "fields": {...}}

``fields`` appears only when the body or the query string does not match the operation's schema
(422): where each problem is, as ``{"json": {"slug": ["Not a valid string."]}}``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

__all__ = ["ErrorSchema", "error_response", "is_api_request", "register"]

PREFIX = "/api/"


class ErrorSchema(Schema):
    error = fields.String(required=True)
    status = fields.Integer(required=True)
    fields_ = fields.Dict(data_key="fields", metadata={"description": "per location and field (422)"})


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def error_response(status: int, message: str, problems: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if problems:
        body["fields"] = problems
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _first_problem(problems: dict[str, Any]) -> str:
    """'slug: Not a valid string.' from webargs' nested messages."""
    path: list[str] = []
    node: Any = problems
    while isinstance(node, dict) and node:
        key, node = next(iter(node.items()))
        path.append(str(key))
    detail = node[0] if isinstance(node, list) and node else node
    return f"{'.'.join(path[1:]) or path[0]}: {detail}" if path else str(detail)


def http_error(exc: HTTPException) -> Response | HTTPException:
    """Werkzeug's errors (unknown path, wrong method, unreadable JSON, a body that fails its schema)."""
    if not is_api_request():
        return exc  # the pages keep Werkzeug's own answer
    code = exc.code or 500
    problems = (getattr(exc, "data", None) or {}).get("messages")
    if problems:
        return error_response(code, f"invalid input: {_first_problem(problems)}", problems)
    return error_response(code, exc.description or exc.name)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
