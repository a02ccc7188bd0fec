"""Tenants: the list, creating one, and a tenant's page (servers, domains, mailboxes, members)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from mailfleet.clock import utcnow
from mailfleet.regions import Region
from webapp import integrations, playbooks
from webapp.errors import MailfleetWebError
from webapp.forms import (
    REGION_CHOICE,
    DomainForm,
    FailoverForm,
    HomeRegionForm,
    LimitsForm,
    MailboxForm,
    MemberForm,
    ProvisionForm,
    RunForm,
    SecondaryMxForm,
    TenantForm,
)
from webapp.models import Domain, Role, RunTrigger, Server, Tenant
from webapp.services import (
    accounts,
    backupregions,
    drills,
    failover,
    fleet,
    mailboxes,
    onboarding,
    provider,
    quotas,
    recovery,
    secondary_mx,
    setup_times,
    tenants,
    terraform,
)
from webapp.services.actions import ACTIONS
from webapp.services.runs import RunFilters, list_runs
from webapp.services.scope import Scope
from webapp.views import Then, fleet_view, form_post, tenant_form, tenant_view
from webapp.views.charts import bars, line

bp = Blueprint("tenants", __name__, url_prefix="/tenants")


@bp.route("/")
@fleet_view("tenants.detail")
def index(scope: Scope) -> str:
    return render_template("tenants/index.html", rows=tenants.list_tenants(scope), form=TenantForm())


@bp.route("/", methods=["POST"])
@login_required
def create() -> Response | tuple[str, int]:
    scope = Scope(current_user)
    form = TenantForm()

    def act() -> Then:
        tenant = tenants.create_tenant(scope, form.slug.data, form.name.data)
        message = f"Tenant {tenant.slug} created, with its own SSH key and Mailu secrets."
        return Then(message, "tenants.detail", {"slug": tenant.slug})

    return form_post(form, None, act, "tenants.index", {})


def tenant_forms(scope: Scope, tenant: Tenant) -> dict:
    servers = fleet.list_servers(scope, tenant)
    domains = fleet.list_domains(scope, tenant)
    provision_form, offers_error = provision_form_with_offers()
    if tenant.home_region and not offers_error:
        provision_form.location.data = f"{REGION_CHOICE}{tenant.home_region.value}"
    return {
        "tenant": tenant,
        "servers": servers,
        "domains": domains,
        "mailboxes": mailboxes.list_mailboxes(scope, tenant),
        "runs": list_runs(scope, RunFilters(tenant_slug=tenant.slug, trigger=RunTrigger.USER), limit=10),
        "provision_form": provision_form,
        "offers_error": offers_error,
        "mail_zone": current_app.config["MAILFLEET_MAIL_ZONE"],
        "domain_form": domain_form(servers),
        "mailbox_form": mailbox_form(domains),
        "secondary_mx_form": secondary_mx_form(servers),
        "secondary_checks": secondary_mx.relay_checks(domains),
        "run_form": run_form(),
        "member_form": MemberForm(),
        "limits_form": LimitsForm(obj=tenant),
        "home_region_form": home_region_form(tenant),
        "failover_form": FailoverForm(on="no" if tenant.failover_auto else "yes"),
        "actions": list(ACTIONS.values()),
        "may_remove": scope.may_remove,
        "restores": recovery.restores_and_recoveries(scope, tenant),
        "backup_copies": backupregions.placements(servers),
        "drills": drills.drills(scope, tenant),
        "down_servers": failover.down_servers(scope, tenant),
        "failover_after": current_app.config["MAILFLEET_FAILOVER_AFTER_MINUTES"],
    }


def domain_form(servers: list[Server]) -> DomainForm:
    """The form that adds a domain to one of the tenant's servers."""
    form = DomainForm()
    form.server_id.choices = [(s.id, s.name) for s in servers]
    return form


def secondary_mx_form(servers: list[Server]) -> SecondaryMxForm:
    """The form that sets a domain's secondary MX: one of the tenant's servers, or none (0)."""
    form = SecondaryMxForm()
    form.server_id.choices = [
        (0, "none"), *((s.id, f"{s.name} ({s.region.label if s.region else 'no region'})") for s in servers)]
    return form


def mailbox_form(domains: list[Domain]) -> MailboxForm:
    """The form that creates mailboxes on one of the tenant's domains."""
    form = MailboxForm()
    form.domain_id.choices = [(d.id, d.name) for d in domains]
    return form


def run_form(*_: object) -> RunForm:
    """The form that runs one of the playbooks a tenant may start directly."""
    form = RunForm()
    form.playbook.choices = [(p.key, p.title) for p in playbooks.direct()]
    return form


def provision_form_with_offers() -> tuple[ProvisionForm, str | None]:
    """The provisioning form offering each of the deployment's providers' locations and plans (or
    why it cannot); with more than one provider, the provider too and its offers grouped under it.
    A provider whose offers cannot be read (a bad key, its API down) is shown but cannot be chosen,
    with its reason in ``form.unavailable``; the others are offered as usual."""
    form = ProvisionForm()
    offered: list[provider.Offers] = []
    for name in integrations.providers():
        try:
            offered.append(provider.offers(name))
        except MailfleetWebError as exc:
            form.unavailable[name] = str(exc)
    if not offered:
        form.provider.choices, form.location.choices, form.plan.choices = [], [], []
        return form, "; ".join(form.unavailable.values())
    form.provider.choices = [(offers.provider, offers.label) for offers in offered] + [
        (name, f"{name} (not available now)", {"disabled": True}) for name in form.unavailable
    ]
    if len(offered) == 1:
        form.location.choices = _locations(offered[0]) + _regions(offered)
        form.plan.choices = _plans(offered[0])
    else:
        form.location.choices = {o.label: _locations(o) for o in offered} | {"Regions": _regions(offered)}
        form.plan.choices = {offers.label: _plans(offers) for offers in offered}
    return form, None


def _locations(offers: provider.Offers) -> list[tuple[str, str]]:
    return [
        (name, f"{name} ({region.label})" if (region := offers.region_of(name)) else name)
        for name in offers.locations
    ]


def _regions(offered: list[provider.Offers]) -> list[tuple[str, str]]:
    """The choice "anywhere in <region>" for each region a provider serves; the provider chosen places it."""
    served = {region for offers in offered for region in offers.by_region()}
    return [(f"{REGION_CHOICE}{r.value}", f"Anywhere in {r.label}") for r in Region if r in served]


def _plans(offers: provider.Offers) -> list[tuple[str, str]]:
    return [(plan.id, plan.label) for plan in offers.plans]


def ordered_where(choice: str) -> tuple[str | None, str | None]:
    """The provisioning form's choice as (location, region): one of them is None."""
    return (None, choice.removeprefix(REGION_CHOICE)) if choice.startswith(REGION_CHOICE) else (choice, None)


def home_region_form(tenant: Tenant) -> HomeRegionForm:
    form = HomeRegionForm(home_region=tenant.home_region.value if tenant.home_region else "")
    form.home_region.choices = [("", "None")] + [(r.value, r.label) for r in Region]
    return form


@bp.route("/<slug>")
@tenant_view
def detail(scope: Scope, tenant: Tenant) -> str:
    page = tenant_forms(scope, tenant)
    steps = onboarding.first_steps(tenant.slug, page["servers"], page["domains"], page["mailboxes"])
    charts = setup_charts(scope, tenant)
    return render_template("tenants/detail.html", first_steps=steps, setup=charts, **page)


#: Colours of the propagation chart's domains, in turn.
DOMAIN_COLOURS = ("#2f5bd3", "#d9822b", "#2b9e5b", "#b03a8a", "#6b7385", "#c23b3b")


def setup_charts(scope: Scope, tenant: Tenant) -> dict[str, Any] | None:
    """The last 30 days of the tenant's mailbox creations (per day: created, success rate, median
    and 95th percentile time) and of its domains' DNS propagation times (a line per domain);
    None when there was neither."""
    now = utcnow()
    days = setup_times.days(scope, tenant, now.date())
    since = now - timedelta(days=setup_times.CHART_DAYS)
    published = [p for p in setup_times.propagations(scope, tenant, since) if p.seconds is not None]
    if not any(d.attempts for d in days) and not published:
        return None
    first, last = days[0].day.toordinal(), days[-1].day.toordinal()
    asked = [d for d in days if d.attempts]
    times = [(d.day.toordinal(), d.p95_seconds) for d in days if d.p95_seconds is not None]
    top = max((t for _, t in times), default=0.0) or 1.0
    per_domain: dict[str, list[tuple[float, float]]] = {}
    for found in published:
        point = (found.published_at.timestamp(), float(found.seconds or 0))
        per_domain.setdefault(found.domain.name, []).append(point)
    slowest = max((s for points in per_domain.values() for _, s in points), default=0.0) or 1.0
    return {
        "days": days,
        "created": bars([(f"{d.day:%d %b}", float(d.created)) for d in days]),
        "rate": line([(d.day.toordinal(), d.success_rate or 0.0) for d in asked], first, last, 1.0),
        "p50": line([(d.day.toordinal(), d.p50_seconds) for d in days if d.p50_seconds is not None],
                    first, last, top),
        "p95": line(times, first, last, top),
        "slowest_mailbox": top,
        "attempts": sum(d.attempts for d in days),
        "created_total": sum(d.created for d in days),
        "domains": [  # as the line_chart macro draws them, a dot at each publication
            {"name": name, "colour": DOMAIN_COLOURS[n % len(DOMAIN_COLOURS)], "dots": True,
             "line": line(points, since.timestamp(), now.timestamp(), slowest)}
            for n, (name, points) in enumerate(sorted(per_domain.items()))
        ],
        "slowest_domain": slowest,
    }


@bp.route("/<slug>/terraform")
@tenant_view
def terraform_export(scope: Scope, tenant: Tenant) -> Response:
    download = {"Content-Disposition": f'attachment; filename="{tenant.slug}.tf"'}
    return Response(terraform.export(scope, tenant), mimetype="text/plain", headers=download)


@bp.route("/<slug>/members", methods=["POST"])
@tenant_form(MemberForm, "Check the form: the password needs at least 12 characters.")
def add_member(scope: Scope, tenant: Tenant, form: MemberForm) -> str:
    user = accounts.add_member(scope, tenant, form.email.data, form.password.data, Role(form.role.data))
    return f"{user.email} can now log in as a member of {tenant.slug}."


@bp.route("/<slug>/home-region", methods=["POST"])
@tenant_form(lambda _, tenant: home_region_form(tenant), "Check the form: pick a region.")
def set_home_region(scope: Scope, tenant: Tenant, form: HomeRegionForm) -> str:
    region = fleet.set_home_region(scope, tenant, form.home_region.data)
    return f"New servers of {tenant.slug} go to {region.label if region else 'the location chosen'}."


@bp.route("/<slug>/failover", methods=["POST"])
@tenant_form(FailoverForm)
def set_failover(scope: Scope, tenant: Tenant, form: FailoverForm) -> str:
    """Failover without asking on or off: the API's PATCH failover_auto, from the tenant page."""
    failover.set_failover_auto(scope, tenant, form.on.data == "yes")
    if tenant.failover_auto:
        return f"Failover is on for {tenant.slug}: a server down that long is recovered without asking."
    return f"Failover is off for {tenant.slug}: a server down that long is offered for recovery."


@bp.route("/<slug>/limits", methods=["POST"])
@tenant_form(LimitsForm, "Check the form: limits are whole numbers of servers and amounts of at least 0.")
def set_limits(scope: Scope, tenant: Tenant, form: LimitsForm) -> str:
    quotas.set_limits(scope, tenant, form.max_servers.data, form.max_monthly_spend.data)
    return f"Limits of {tenant.slug} saved; they apply to new orders."
