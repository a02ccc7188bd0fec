"""One blueprint per area; this module registers them, the login hooks and the error pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webapp import api
from webapp.api.errors import error_response, http_error, is_api_request
from webapp.errors import MailfleetWebError
from webapp.extensions import login_manager
from webapp.forms import ActionForm
from webapp.models import Run, Tenant
from webapp.services import accounts
from webapp.services.scope import Scope

#: A button's post whose CSRF token no longer validates (the page was open too long).
EXPIRED = "The form expired; try again."

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
    def not_found(exc: HTTPException) -> ResponseReturnValue:
        if is_api_request():
            return http_error(exc)  # the API's 404 answer
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


R = TypeVar("R")


def tenant_view(view: Callable[..., R]) -> Callable[..., R]:
    """A page of one tenant, for a logged-in user: ``view`` is called with the user's scope and the
    tenant the URL's ``slug`` names (one the user may not see answers 404, as one that does not
    exist), then the URL's other values."""

    @functools.wraps(view)
    @login_required
    def with_tenant(slug: str, **values: Any) -> R:
        scope = Scope(current_user)
        return view(scope, scope.tenant(slug), **values)

    return with_tenant


def tenant_form(
    form: type[FlaskForm] | Callable[[Scope, Tenant], FlaskForm],
    invalid: str | None = None,
    page: str = "tenants.detail",
) -> Callable[[Callable[..., str | Then]], Callable[..., Response]]:
    """A form posted from one of a tenant's pages (``page``, back to which it goes): as
    ``tenant_view``, then the form (a form class, or what builds it for the scope and tenant) is
    checked and the view called with it as well; what the view returns is as for ``form_post``:
    its message shown on ``page``, or where to go. A form that does not validate is answered with
    ``invalid`` (None: the form's own errors), a refusal of the services with its message; either
    way nothing changed."""

    def posted(view: Callable[..., str | Then]) -> Callable[..., Response]:
        @functools.wraps(view)
        @tenant_view
        def validated(scope: Scope, tenant: Tenant, **values: Any) -> Response:
            filled = form() if isinstance(form, type) else form(scope, tenant)
            back = {"slug": tenant.slug, **values}
            return form_post(filled, invalid, lambda: view(scope, tenant, filled, **values), page, back)

        return validated

    return posted


def fleet_view(own_page: str) -> Callable[[Callable[[Scope], R]], Callable[[], R | Response]]:
    """A page of every tenant, for administrators: the view is called with the caller's scope. A
    tenant's member is sent to the page ``own_page`` of its own tenant instead."""

    def for_admins(view: Callable[[Scope], R]) -> Callable[[], R | Response]:
        @functools.wraps(view)
        @login_required
        def or_own_tenant() -> R | Response:
            scope = Scope(current_user)
            if not scope.is_admin:
                return redirect(url_for(own_page, slug=scope.own_tenant.slug))
            return view(scope)

        return or_own_tenant

    return for_admins


def back_with_error(exc: MailfleetWebError, endpoint: str, **values: Any) -> Response:
    """For form posts: show the service's message and return to the form (nothing was changed)."""
    flash(str(exc), "error")
    return redirect(url_for(endpoint, **values))


@dataclass(frozen=True)
class Then:
    """Where a form post goes once it is done when that is not back to its form's page (``message``
    empty: none is shown)."""

    message: str
    endpoint: str
    values: dict[str, Any]


def to_run(run: Run, message: str = "") -> Then:
    """On to the page of the run a form post queued."""
    return Then(message, "runs.detail", {"run_id": run.id})


def form_post(
    form: FlaskForm,
    invalid: str | None,
    act: Callable[[], str | Then],
    endpoint: str,
    values: dict[str, Any],
    *,
    category: str = "success",
    refused: tuple[type[MailfleetWebError], ...] = (MailfleetWebError,),
) -> Response:
    """A form's post: ``act`` (a service call) and back to ``endpoint`` with its message (or on to
    the page its ``Then`` names), or back with why not: ``invalid`` for a form that does not
    validate (None: the form's own errors), the service's refusal; nothing changed.
    ``act`` may add query values to ``values`` for the page it returns to."""
    if not form.validate_on_submit():
        flash(invalid or "Check the form: " + _errors(form), "error")
        return redirect(url_for(endpoint, **values))
    try:
        done = act()
    except refused as exc:
        return back_with_error(exc, endpoint, **values)
    if isinstance(done, str):
        done = Then(done, endpoint, values)
    if done.message:
        flash(done.message, category)
    return redirect(url_for(done.endpoint, **done.values))


def button_post(
    act: Callable[[], str | Then],
    endpoint: str,
    values: dict[str, Any],
    *,
    expired: str = EXPIRED,
    category: str = "success",
    refused: tuple[type[MailfleetWebError], ...] = (MailfleetWebError,),
) -> Response:
    """A button's post (a form of nothing but its CSRF token): as ``form_post``, and ``expired`` when
    the token does not validate."""
    return form_post(ActionForm(), expired, act, endpoint, values, category=category, refused=refused)


def _errors(form: FlaskForm) -> str:
    """A form's validation errors in one line: ``field: why; field: why``."""
    return "; ".join(f"{name}: {', '.join(why)}" for name, why in form.errors.items())
