"""One blueprint per area; this module registers them, the login hooks and the error pages."""

from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MailfleetWebError,
    NotFound,
    RateLimited,
    UpstreamError,
)
from webapp.extensions import login_manager
from webapp.services import accounts

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_STATUS = {
    NotFound: 404,
    Forbidden: 403,
    InvalidInput: 400,
    Conflict: 409,
    RateLimited: 429,
    UpstreamError: 502,
}


def status_of(exc: MailfleetWebError) -> int:
    return next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)


def register(app: Flask) -> None:
    from webapp.views import (
        actions,
        api,
        auth,
        capacity,
        costs,
        dashboard,
        dnsdoctor,
        lifecycle,
        mailboxes,
        runs,
        servers,
        tenants,
    )

    for module in (auth, dashboard, tenants, servers, runs, mailboxes, actions, lifecycle, costs, capacity,
                   dnsdoctor):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    from webapp.views import health

    app.register_blueprint(health.bp)
    app.register_blueprint(health.api_bp, url_prefix="/api/v1/health")
    from webapp.views import backups

    app.register_blueprint(backups.api_bp, url_prefix="/api/v1/backups")

    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.user_loader(accounts.load_user)

    @app.errorhandler(MailfleetWebError)
    def service_error(exc: MailfleetWebError) -> tuple[Response | str, int]:
        code = status_of(exc)
        if request.blueprint == "api":
            return jsonify(error=str(exc)), code
        return render_template("error.html", code=code, message=str(exc)), code

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> tuple[Response | str, int]:
        if request.path.startswith("/api/"):
            return jsonify(error="not found"), 404
        return render_template("error.html", code=404, message="Page not found."), 404

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Browsers ignore it over plain http (the loopback demo); over https it pins https.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def back_with_error(exc: MailfleetWebError, endpoint: str, **values: object) -> Response:
    """For form posts: show the service's message and return to the form (nothing was changed)."""
    flash(str(exc), "error")
    return redirect(url_for(endpoint, **values))
