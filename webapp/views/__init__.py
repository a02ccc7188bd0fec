"""One blueprint per area; this module registers them, the login hooks and the error pages."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webapp import api
from webapp.api.errors import error_response, http_error, is_api_request
from webapp.errors import MailfleetWebError
from webapp.extensions import login_manager
from webapp.services import accounts

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    from webapp.views import (
        actions,
        auth,
        capacity,
        costs,
        dashboard,
        dnsdoctor,
        health,
        help,
        lifecycle,
        mailboxes,
        ops,
        rollouts,
        runs,
        servers,
        tenants,
        warmup,
    )

    for module in (
        auth,
        dashboard,
        tenants,
        servers,
        runs,
        rollouts,
        mailboxes,
        actions,
        lifecycle,
        costs,
        capacity,
        dnsdoctor,
        health,
        help,
        warmup,
        ops,
    ):
        app.register_blueprint(module.bp)
    api.init_app(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.user_loader(accounts.load_user)

    @app.errorhandler(MailfleetWebError)
    def service_error(exc: MailfleetWebError) -> tuple[Response | str, int]:
        if is_api_request():
            return error_response(exc.status, str(exc)), exc.status
        return render_template("error.html", code=exc.status, message=str(exc)), exc.status

    @app.errorhandler(404)
    def not_found(exc: HTTPException) -> tuple[Response | str | HTTPException, int]:
        if is_api_request():
            return http_error(exc), 404
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


def form_post(
    form: FlaskForm,
    invalid: str,
    act: Callable[[], str],
    endpoint: str,
    values: dict[str, object],
    *,
    category: str = "success",
    refused: tuple[type[MailfleetWebError], ...] = (MailfleetWebError,),
) -> Response:
    """A form's post: ``act`` (a service call) and back to ``endpoint`` with its message, or with
    why not (``invalid`` for a form that does not validate, the service's refusal; nothing changed).
    ``act`` may add query values to ``values`` for the page it returns to."""
    if not form.validate_on_submit():
        flash(invalid, "error")
        return redirect(url_for(endpoint, **values))
    try:
        message = act()
    except refused as exc:
        return back_with_error(exc, endpoint, **values)
    flash(message, category)
    return redirect(url_for(endpoint, **values))
