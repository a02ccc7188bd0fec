"""A server's warm-up plan: its caps today and next, the form that changes the plan, its address
history, and switching it to a new main IP (a confirmed action)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from mailfleet.warmup import LISTED_FLOOR
from webapp import integrations
from webapp.errors import Conflict, Forbidden, InvalidInput
from webapp.forms import SendingCapsForm, SwitchIpForm, WarmupForm
from webapp.models import Tenant
from webapp.services import fleet, ipswitch, mailstats, warmup
from webapp.services.scope import Scope
from webapp.views import Then, back_with_error, form_post, tenant_view, to_run
from webapp.views.charts import Line, line

bp = Blueprint("warmup", __name__)


@bp.route("/tenants/<slug>/servers/<int:server_id>/warmup")
@tenant_view
def detail(scope: Scope, tenant: Tenant, server_id: int) -> str:
    server = fleet.server_of(scope, tenant, server_id)
    plan = warmup.plan_of(server)
    form = WarmupForm(curve=plan.curve if plan else "standard", table=warmup.table_text(plan))
    caps_form = SendingCapsForm(caps=warmup.caps_text(server))
    return render_template(
        "warmup/detail.html", server=server, slug=tenant.slug, status=warmup.status(plan), form=form,
        provider=integrations.provider_label(server.provider),
        hold=None if plan else warmup.hold_of(server), floor=LISTED_FLOOR, caps_form=caps_form,
        addresses=ipswitch.history(server),
        switch_allowed_after=ipswitch.cooldown_until(ipswitch.last_change(server)),
        counts=mailstats.day_counts(server, warmup.today()),
        chart=_chart(mailstats.recent_days(server, warmup.today())),
    )


def _chart(days: list[mailstats.Day]) -> dict[str, Line] | None:
    """Delivered per day and the plan's daily cap on one scale; None when there is neither."""
    sent = [(d.day.toordinal(), float(d.sent)) for d in days if d.sent is not None]
    caps = [(d.day.toordinal(), float(d.cap)) for d in days if d.cap is not None]
    if not sent and not caps:
        return None
    start, end = days[0].day.toordinal(), days[-1].day.toordinal()
    top = max(y for _, y in sent + caps) or 1.0
    return {"sent": line(sent, start, end, top), "cap": line(caps, start, end, top)}


@bp.route("/tenants/<slug>/servers/<int:server_id>/warmup", methods=["POST"])
@tenant_view
def update(scope: Scope, tenant: Tenant, server_id: int) -> Response:
    server = fleet.server_of(scope, tenant, server_id)
    form = WarmupForm()

    def act() -> str:
        started_on = warmup.today() if form.restart.data else None
        run = warmup.set_plan(scope, server.id, form.curve.data, form.table.data or "", started_on=started_on)
        if run is None:
            return "Warm-up plan saved. The caps reach the server once it is active."
        return f"Warm-up plan saved. Caps pushed to the server by run {run.id}."

    invalid = "Check the form: pick a plan (a custom table is at most 20,000 characters)."
    return form_post(form, invalid, act, "warmup.detail", {"slug": tenant.slug, "server_id": server.id})


@bp.route("/tenants/<slug>/servers/<int:server_id>/warmup/remove", methods=["POST"])
@tenant_view
def remove(scope: Scope, tenant: Tenant, server_id: int) -> Response:
    server = fleet.server_of(scope, tenant, server_id)
    warmup.remove_plan(scope, server.id)
    flash("Warm-up plan removed: this server's IP is no longer capped by a plan.", "success")
    return redirect(url_for("warmup.detail", slug=tenant.slug, server_id=server.id))


@bp.route("/tenants/<slug>/servers/<int:server_id>/caps", methods=["POST"])
@tenant_view
def caps(scope: Scope, tenant: Tenant, server_id: int) -> Response:
    server = fleet.server_of(scope, tenant, server_id)
    form = SendingCapsForm()

    def act() -> str:
        run = warmup.set_caps(scope, server.id, form.caps.data or "")
        pushed = "" if run is None else f" Pushed to the server by run {run.id}."
        return "Domain and mailbox caps saved." + pushed

    invalid = "Check the form: the caps are at most 20,000 characters."
    return form_post(form, invalid, act, "warmup.detail", {"slug": tenant.slug, "server_id": server.id})


@bp.route("/tenants/<slug>/servers/<int:server_id>/switch-ip", methods=["GET", "POST"])
@tenant_view
def switch_ip(scope: Scope, tenant: Tenant, server_id: int) -> Response | str:
    try:
        found = ipswitch.switch_plan(scope, tenant, server_id)
        if found.cooldown is not None and not scope.is_admin:
            raise Conflict(found.cooldown + ".")
    except (InvalidInput, Conflict) as exc:
        return back_with_error(exc, "warmup.detail", slug=tenant.slug, server_id=server_id)
    form = SwitchIpForm()
    if request.method == "POST":

        def act() -> Then:
            run = ipswitch.switch_ip(
                scope, tenant, server_id, form.confirm.data, form.submission_key.data,
                override_cooldown=bool(form.override_cooldown.data),
            )
            return to_run(run, f"Switching {found.server.name} to a new IP: run {run.id}.")

        back = {"slug": tenant.slug, "server_id": server_id}
        invalid = f"Type {found.server.name} to confirm."
        refused = (InvalidInput, Conflict, Forbidden)
        return form_post(form, invalid, act, "warmup.switch_ip", back, refused=refused)
    return render_template("warmup/switch_ip.html", slug=tenant.slug, switch=found, form=form)
