"""The JSON API under /api/v1: one module per resource, one error shape (webapp.api.errors), one
serializer per model (webapp.api.schemas), and an OpenAPI document generated from the code at
/api/v1/openapi.json.

flask-smorest binds the three: request bodies and query strings are parsed by the same marshmallow
schemas that document them, and responses are dumped by the schemas the document names.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from webapp.api import errors
from webapp.api.errors import ErrorSchema

__all__ = ["PREFIX", "OPENAPI_PATH", "init_app"]

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"


class MailfleetApi(Api):
    ERROR_SCHEMA = ErrorSchema
    # Each operation lists the errors it can answer; a catch-all "default" would hide a wrong one.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """The app's own handler answers errors (webapp.api.errors), for the pages' paths too."""


def init_app(app: Flask) -> None:
    from webapp.api import (
        actions,
        autoscale,
        backups,
        costs,
        domains,
        health,
        mailboxes,
        members,
        recoveries,
        rollouts,
        runs,
        servers,
        tenants,
        terraform,
        usage,
        warmup,
    )

    app.config.update(
        API_TITLE="mailfleet",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = MailfleetApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Every request carries a per-user API token: Authorization: Bearer <token>."
            },
            "security": [{"bearer": []}],
        },
    )
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module in (
        tenants,
        members,
        servers,
        domains,
        mailboxes,
        runs,
        rollouts,
        actions,
        health,
        backups,
        recoveries,
        usage,
        costs,
        autoscale,
        warmup,
        terraform,
    ):
        api.register_blueprint(module.blp, url_prefix=PREFIX)
    errors.register(app)
