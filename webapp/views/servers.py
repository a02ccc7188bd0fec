"""Servers and domains: listing, and the forms that enqueue provisioning and domain runs."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.forms import DomainForm, SecondaryMxForm
from webapp.models import Tenant
from webapp.services import fleet, secondary_mx
from webapp.services.actions import ACTIONS
from webapp.services.scope import Scope
from webapp.views import Then, form_post, tenant_form, tenant_view, to_run
from webapp.views.tenants import domain_form, ordered_where, provision_form_with_offers, secondary_mx_form

bp = Blueprint("servers", __name__)


@bp.route("/servers")
@login_required
def index() -> str:
    scope = Scope(current_user)
    return render_template(
        "servers/index.html", servers=fleet.list_servers(scope), actions=list(ACTIONS.values())
    )


@bp.route("/tenants/<slug>/servers", methods=["POST"])
@tenant_view
def provision(scope: Scope, tenant: Tenant) -> Response:
    form, offers_error = provision_form_with_offers()
    if offers_error:
        flash(offers_error, "error")
        return redirect(url_for("tenants.detail", slug=tenant.slug))

    def act() -> Then:
        location, region = ordered_where(form.location.data)
        run = fleet.provision_server(
            scope, tenant, location, form.plan.data, form.mail_hostname.data, form.submission_key.data,
            region=region, provider_name=form.provider.data or None,
        )
        return to_run(run, f"Provisioning queued as run {run.id}.")

    invalid = "Check the form: pick a location and a plan, and type the mail host name."
    return form_post(form, invalid, act, "tenants.detail", {"slug": tenant.slug})


@bp.route("/tenants/<slug>/domains", methods=["POST"])
@tenant_form(lambda scope, tenant: domain_form(fleet.list_servers(scope, tenant)),
             "Check the form: pick a server and type a domain name (at most 253 characters).")
def add_domain(scope: Scope, tenant: Tenant, form: DomainForm) -> Then:
    run = fleet.add_domain(scope, tenant, form.server_id.data, form.name.data, form.submission_key.data)
    return to_run(run, f"Domain queued as run {run.id}.")


@bp.route("/tenants/<slug>/domains/<int:domain_id>/secondary-mx", methods=["POST"])
@tenant_form(lambda scope, tenant: secondary_mx_form(fleet.list_servers(scope, tenant)),
             "Check the form: pick one of the tenant's servers, or none.")
def set_secondary_mx(scope: Scope, tenant: Tenant, form: SecondaryMxForm, domain_id: int) -> Then:
    run = secondary_mx.set_secondary(
        scope, tenant, domain_id, form.server_id.data or None, form.submission_key.data
    )
    return to_run(run, f"Secondary MX queued as run {run.id}.")
