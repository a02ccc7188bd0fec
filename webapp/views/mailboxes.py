"""The "free mailbox" form: creates mailboxes on the tenant's Mailu and shows each password once."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from werkzeug.wrappers import Response

from webapp.errors import MailfleetWebError
from webapp.models import Tenant
from webapp.services import fleet, mailboxes
from webapp.services.scope import Scope
from webapp.views import back_with_error, tenant_view
from webapp.views.tenants import mailbox_form

bp = Blueprint("mailboxes", __name__)


@bp.route("/tenants/<slug>/mailboxes", methods=["POST"])
@tenant_view
def create(scope: Scope, tenant: Tenant) -> Response:
    form = mailbox_form(fleet.list_domains(scope, tenant))
    if not form.validate_on_submit():
        flash("Check the form: pick a domain and list the mailbox names.", "error")
        return redirect(url_for("tenants.detail", slug=tenant.slug))
    quota = form.quota_mb.data * 1024 * 1024 if form.quota_mb.data else None
    try:
        batch = mailboxes.create_mailboxes(
            scope,
            tenant,
            form.domain_id.data,
            mailboxes.parse_local_parts(form.local_parts.data),
            quota,
            dns_override=form.dns_override.data,
        )
    except MailfleetWebError as exc:
        return back_with_error(exc, "tenants.detail", slug=tenant.slug)
    response = make_response(render_template("mailboxes/created.html", tenant=tenant, batch=batch))
    # The passwords exist only in this response: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
