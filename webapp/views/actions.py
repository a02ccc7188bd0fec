"""Actions on a tenant's servers (back up now, restore, rotate keys): a confirmation page, then the run."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from werkzeug.wrappers import Response

from webapp.errors import InvalidInput
from webapp.forms import RecoverForm, ServerActionForm
from webapp.models import Server, ServerStatus, Tenant
from webapp.services import actions, backups, fleet, recovery
from webapp.services.scope import Scope
from webapp.views import Then, form_post, tenant_view, to_run
from webapp.views.tenants import ordered_where, provision_form_with_offers

bp = Blueprint("actions", __name__)


def _form(servers: list[Server]) -> ServerActionForm:
    form = ServerActionForm()
    form.server_id.choices = [(s.id, s.name) for s in servers if s.status == ServerStatus.ACTIVE]
    # A restore may take the snapshots of any of the tenant's servers, also one that is gone.
    form.source_server_id.choices = [("", "the same server")] + [(s.id, s.name) for s in servers]
    return form


@bp.route("/tenants/<slug>/actions/<key>", methods=["GET"])
@tenant_view
def confirm(scope: Scope, tenant: Tenant, key: str) -> str:
    chosen = actions.action(key)
    servers = fleet.list_servers(scope, tenant)
    form = _form(servers)
    if request.args.get("server_id", "").isdigit():
        form.server_id.data = int(request.args["server_id"])
    known = backups.statuses(scope) if key == "restore" else {}
    snapshots = {s: known[s.id].snapshots for s in servers if s.id in known}
    if key == "restore":  # a snapshot picked in the list below the form: its server and time
        if request.args.get("source_server_id", "").isdigit():
            form.source_server_id.data = int(request.args["source_server_id"])
        form.restore_before.data = request.args.get("restore_before", "")[:32]
    return render_template(
        "actions/confirm.html", tenant=tenant, action=chosen, form=form, snapshots=snapshots
    )


@bp.route("/tenants/<slug>/actions/<key>", methods=["POST"])
@tenant_view
def start(scope: Scope, tenant: Tenant, key: str) -> Response:
    chosen = actions.action(key)
    form = _form(fleet.list_servers(scope, tenant))
    back: dict[str, object] = {"slug": tenant.slug, "key": key, "server_id": form.server_id.data}

    def act() -> Then:
        if key == "restore" and not form.confirm.data:
            raise InvalidInput("Tick the box to confirm that the server's Mailu data is replaced.")
        run = actions.start_action(
            scope,
            tenant,
            key,
            server_id=form.server_id.data if chosen.per_server else None,
            restore_before=form.restore_before.data if key == "restore" else None,
            source_server_id=form.source_server_id.data if key == "restore" else None,
            submission_key=form.submission_key.data,
        )
        return to_run(run, f"{chosen.title}: queued as run {run.id}.")

    return form_post(form, None, act, "actions.confirm", back)


def _recover_form(servers: list[Server]) -> tuple[RecoverForm, str | None]:
    """The lost server among the tenant's, and the provider's locations and plans for the new one."""
    offers, offers_error = provision_form_with_offers()
    form = RecoverForm()
    form.location.choices, form.plan.choices = offers.location.choices, offers.plan.choices
    form.server_id.choices = [(s.id, s.name) for s in servers if s.mail_hostname]
    return form, offers_error


@bp.route("/tenants/<slug>/recover", methods=["GET"])
@tenant_view
def recover_confirm(scope: Scope, tenant: Tenant) -> str:
    form, offers_error = _recover_form(fleet.list_servers(scope, tenant))
    if request.args.get("server_id", "").isdigit():
        form.server_id.data = int(request.args["server_id"])
    form.restore_before.data = request.args.get("restore_before", "")[:32]  # from the restore page
    return render_template("actions/recover.html", tenant=tenant, form=form, offers_error=offers_error)


@bp.route("/tenants/<slug>/recover", methods=["POST"])
@tenant_view
def recover(scope: Scope, tenant: Tenant) -> Response:
    form, _ = _recover_form(fleet.list_servers(scope, tenant))
    back: dict[str, object] = {"slug": tenant.slug, "server_id": form.server_id.data}

    def act() -> Then:
        location, region = ordered_where(form.location.data)
        run = recovery.start_recovery(
            scope,
            tenant,
            form.server_id.data,
            location,
            form.plan.data,
            form.submission_key.data,
            region=region,
            restore_before=form.restore_before.data,
            from_copy=bool(form.from_copy.data),
            confirmed=bool(form.confirm.data),
        )
        return to_run(
            run,
            f"Recovery started: the new server is provisioned by run {run.id}; the restore, its check "
            "and the DNS switch follow, each once the step before succeeded.",
        )

    invalid = "Check the form: pick the lost server, a location and a plan."
    return form_post(form, invalid, act, "actions.recover_confirm", back)
