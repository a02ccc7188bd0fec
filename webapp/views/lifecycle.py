"""Pages that take things away. Each page first shows what will be lost and asks for the object's
name (the API asks for the same name as ``{"confirm": "<name>"}``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.errors import MailfleetWebError, NotFound
from webapp.forms import ConfirmForm
from webapp.models import Domain, Mailbox, Server, Tenant, User
from webapp.services import lifecycle
from webapp.services.lifecycle import Losses
from webapp.services.scope import Scope

bp = Blueprint("lifecycle", __name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Action(Generic[T]):
    title: str  # "Remove the domain"
    button: str
    model: type[T]
    losses: Callable[[T], Losses]


ACTIONS: dict[str, Action[Any]] = {
    "remove-domain": Action("Remove a mail domain", "Remove the domain", Domain, lifecycle.domain_losses),
    "deprovision": Action("Deprovision a server", "Deprovision the server", Server, lifecycle.server_losses),
    "delete-mailbox": Action("Delete a mailbox", "Delete the mailbox", Mailbox, lifecycle.mailbox_losses),
    "reset-password": Action(
        "Reset a mailbox password", "Reset the password", Mailbox, lifecycle.password_losses
    ),
    "remove-member": Action("Remove a member", "Remove the member", User, lifecycle.member_losses),
    "revoke-token": Action("Revoke an API token", "Revoke the token", User, lifecycle.token_losses),
    "delete-tenant": Action("Delete a tenant", "Delete the tenant", Tenant, lifecycle.tenant_losses),
}


def _target(scope_: Scope, tenant: Tenant, kind: str, object_id: int) -> object:
    """The object a page is about, found through the scope (another tenant's: NotFound)."""
    action = ACTIONS[kind]
    if action.model is Tenant:
        if object_id != tenant.id:
            raise NotFound(f"tenant {object_id} not found")
        return tenant
    if kind == "revoke-token" and object_id == scope_.user.id:
        return scope_.user
    found = scope_.get(action.model, object_id)
    if getattr(found, "tenant_id", None) != tenant.id:
        raise NotFound(f"{action.model.__name__.lower()} {object_id} not found")
    return found


def _perform(scope_: Scope, tenant: Tenant | None, kind: str, object_id: int, form: ConfirmForm) -> Response:
    typed, key = form.confirm.data, form.submission_key.data
    if kind == "revoke-token":
        flash(
            f"The API token of {lifecycle.revoke_api_token(scope_, object_id, typed)} was revoked.", "success"
        )
        return redirect(url_for("tenants.detail", slug=tenant.slug) if tenant else url_for("auth.account"))
    assert tenant is not None
    back = url_for("tenants.detail", slug=tenant.slug)
    if kind == "remove-domain":
        run = lifecycle.remove_domain(scope_, tenant, object_id, typed, key)
        flash(f"Removing the domain: run {run.id}.", "success")
        return redirect(url_for("runs.detail", run_id=run.id))
    if kind == "deprovision":
        run = lifecycle.deprovision_server(scope_, tenant, object_id, typed, key)
        flash(f"Deprovisioning the server: run {run.id}.", "success")
        return redirect(url_for("runs.detail", run_id=run.id))
    if kind == "delete-mailbox":
        flash(f"{lifecycle.delete_mailbox(scope_, tenant, object_id, typed)} was deleted.", "success")
        return redirect(back + "#mailboxes")
    if kind == "reset-password":
        email, password = lifecycle.reset_mailbox_password(scope_, tenant, object_id, typed)
        page = render_template("lifecycle/password.html", tenant=tenant, email=email, password=password)
        response = make_response(page)
        response.headers["Cache-Control"] = "no-store"  # the password exists only in this response
        return response
    if kind == "remove-member":
        flash(f"{lifecycle.remove_member(scope_, tenant, object_id, typed)} was removed.", "success")
        return redirect(back)
    flash(f"The tenant {lifecycle.delete_tenant(scope_, tenant, typed)} was deleted.", "success")
    return redirect(url_for("tenants.index"))


def _page(
    scope_: Scope, tenant: Tenant | None, kind: str, object_id: int, target: object
) -> Response | tuple[str, int]:
    """GET: what will be lost and the confirmation form; POST: do it, or show why not (nothing changed)."""
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            return _perform(scope_, tenant, kind, object_id, form)
        except MailfleetWebError as exc:
            flash(str(exc), "error")
            status = 400
    action = ACTIONS[kind]
    page = render_template(
        "lifecycle/confirm.html", tenant=tenant, action=action, losses=action.losses(target), form=form
    )
    return page, status


@bp.route("/tenants/<slug>/<kind>/<int:object_id>", methods=["GET", "POST"])
@login_required
def confirm(slug: str, kind: str, object_id: int) -> Response | tuple[str, int]:
    if kind not in ACTIONS:
        raise NotFound("page not found")
    scope_ = Scope(current_user)
    tenant = scope_.tenant(slug)
    target = _target(scope_, tenant, kind, object_id)
    if kind in ("remove-domain", "deprovision"):
        scope_.require_may_remove()  # not even the page: it would only end in a refusal
    return _page(scope_, tenant, kind, object_id, target)


@bp.route("/account/revoke-token", methods=["GET", "POST"])
@login_required
def revoke_own_token() -> Response | tuple[str, int]:
    user: User = current_user
    return _page(Scope(user), None, "revoke-token", user.id, user)
