"""The DNS troubleshooting wizard of one domain: what is wrong, in fixing order, with the records to
set and the DNS host's steps; propagation per record; "Check again" (a job, never in the request);
"Fix" where mailfleet updates the zone (the DNS part of the domain run, which publishes the records
again); and, for admins, the override that lets mailboxes be created before DNS is ready."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, request
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from mailfleet.dnsdoctor import SECTIONS
from webapp.models import Tenant
from webapp.services import dnsdoctor, setup_times
from webapp.services.scope import Scope
from webapp.views import button_post, tenant_view

bp = Blueprint("dnsdoctor", __name__)


@bp.route("/tenants/<slug>/domains/<int:domain_id>/dns")
@tenant_view
def wizard(scope: Scope, tenant: Tenant, domain_id: int) -> str:
    domain = dnsdoctor.tenant_domain(scope, tenant, domain_id)
    report = domain.dns_report or {}
    sections = [(s, [f for f in report.get("findings", []) if f["section"] == s]) for s in SECTIONS]
    # After "Check again" the page reloads itself until a newer report is in.
    since = request.args.get("since", "")
    waiting = bool(since) and (domain.dns_checked_at is None or domain.dns_checked_at.isoformat() <= since)
    return render_template("dnsdoctor/wizard.html", tenant=tenant, domain=domain, report=report,
                           sections=[(s, f) for s, f in sections if f], waiting=waiting,
                           refusal=dnsdoctor.readiness_refusal(domain), fixable=dnsdoctor.fixable(domain),
                           times=dnsdoctor.propagation_times(domain),
                           publications=setup_times.propagations(scope, tenant, domain=domain)[-10:],
                           form=FlaskForm())


@bp.route("/tenants/<slug>/domains/<int:domain_id>/dns/check", methods=["POST"])
@tenant_view
def check(scope: Scope, tenant: Tenant, domain_id: int) -> Response:
    back = {"slug": tenant.slug, "domain_id": domain_id}

    def act() -> str:
        domain = dnsdoctor.request_check(scope, tenant, domain_id)
        back["since"] = (domain.dns_checked_at or datetime.min).isoformat()
        return f"Checking the DNS of {domain.name}: this page shows the result as soon as it is in."

    expired = "The form expired: press Check again once more."
    return button_post(act, "dnsdoctor.wizard", back, expired=expired, category="info")


@bp.route("/tenants/<slug>/domains/<int:domain_id>/dns/fix", methods=["POST"])
@tenant_view
def fix(scope: Scope, tenant: Tenant, domain_id: int) -> Response:
    def act() -> str:
        run = dnsdoctor.fix(scope, tenant, domain_id)
        return (f"Publishing the records again (run #{run.id}); the domain is checked every 5 minutes "
                "until they have propagated.")

    back = {"slug": tenant.slug, "domain_id": domain_id}
    expired = "The form expired: press Fix once more."
    return button_post(act, "dnsdoctor.wizard", back, expired=expired, category="info")


@bp.route("/tenants/<slug>/domains/<int:domain_id>/dns/override", methods=["POST"])
@tenant_view
def override(scope: Scope, tenant: Tenant, domain_id: int) -> Response:
    def act() -> str:
        domain = dnsdoctor.override(scope, tenant, domain_id)
        return f"Mailboxes may now be created on {domain.name} although its DNS is not ready (recorded)."

    back = {"slug": tenant.slug, "domain_id": domain_id}
    expired = "The form expired: try again."
    return button_post(act, "dnsdoctor.wizard", back, expired=expired, category="info")
