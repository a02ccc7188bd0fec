"""Run history with filters, the run page (live output by polling with an event cursor), cancel and retry."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp import playbooks
from webapp.api.schemas import RunEventSchema, RunSchema
from webapp.errors import InvalidInput, MailfleetWebError
from webapp.forms import ActionForm, RetryForm, RunForm
from webapp.models import RunStatus, RunTrigger, Tenant
from webapp.services import runs
from webapp.services.scope import Scope
from webapp.views import Then, back_with_error, tenant_form, to_run
from webapp.views.tenants import run_form

bp = Blueprint("runs", __name__)

# The page asks again after these (a hint in each answer, like GitLab's job log polling): soon
# while lines flow, less often while a run waits or sits in a long task.
FLOWING_POLL_MS = 1000
QUIET_POLL_MS = 3000
LIVE_EVENTS = 500
PAGE_EVENTS = 5000


def _choice(name: str, enum: type[StrEnum]) -> Any:
    value = request.args.get(name) or None
    if value is not None and value not in enum.__members__.values():
        raise InvalidInput(f"unknown {name} {value!r}; one of: {', '.join(enum)}")
    return enum(value) if value else None


def filters_from_args() -> runs.RunFilters:
    """The run list's filters, for the page and the API (``trigger``: user or schedule)."""
    return runs.RunFilters(
        tenant_slug=(request.args.get("tenant") or None),
        status=_choice("status", RunStatus),
        playbook=(request.args.get("playbook") or None),
        host=(request.args.get("host") or None),
        trigger=_choice("trigger", RunTrigger),
    )


@bp.route("/runs")
@login_required
def index() -> str:
    filters = filters_from_args()
    return render_template(
        "runs/index.html",
        runs=runs.list_runs(Scope(current_user), filters),
        filters=filters,
        statuses=list(RunStatus),
        playbook_files=sorted({p.filename for p in playbooks.CATALOGUE.values()}),
    )


@bp.route("/runs/<int:run_id>")
@login_required
def detail(run_id: int) -> str:
    scope = Scope(current_user)
    run = runs.get_run(scope, run_id)
    events = runs.events_after(scope, run_id, 0, limit=PAGE_EVENTS)
    return render_template(
        "runs/detail.html",
        run=run,
        events=events,
        last_counter=events[-1].counter if events else 0,
        failure=runs.first_failure(run),
        action_form=ActionForm(),
        retry_form=RetryForm(),
    )


@bp.route("/tenants/<slug>/runs", methods=["POST"])
@tenant_form(run_form, "Check the form: pick a playbook.")
def submit(scope: Scope, tenant: Tenant, form: RunForm) -> Then:
    limit, key = form.limit.data or None, form.submission_key.data
    return to_run(runs.submit_run(scope, tenant, form.playbook.data, limit=limit, submission_key=key))


@bp.route("/runs/<int:run_id>/cancel", methods=["POST"])
@login_required
def cancel(run_id: int) -> Response:
    try:
        run = runs.cancel_run(Scope(current_user), run_id)
    except MailfleetWebError as exc:
        return back_with_error(exc, "runs.detail", run_id=run_id)
    flash(
        "Canceled." if run.status == RunStatus.CANCELED else "Stopping: the playbook is being canceled.",
        "info",
    )
    return redirect(url_for("runs.detail", run_id=run_id))


@bp.route("/runs/<int:run_id>/retry", methods=["POST"])
@login_required
def retry(run_id: int) -> Response:
    form = RetryForm()
    form.validate_on_submit()
    try:
        run = runs.retry_run(Scope(current_user), run_id, form.submission_key.data or None)
    except MailfleetWebError as exc:
        return back_with_error(exc, "runs.detail", run_id=run_id)
    return redirect(url_for("runs.detail", run_id=run.id))


@bp.route("/runs/<int:run_id>/live")
@login_required
def live(run_id: int) -> Response:
    """What the run page polls: events after the ``after`` counter, the run's state, and when to ask
    again. Each answer is one short query, so open run pages never hold a server thread."""
    try:
        after = max(int(request.args.get("after", 0)), 0)
    except ValueError:
        raise InvalidInput("'after' must be an event counter") from None
    scope = Scope(current_user)
    # The run before its events: a run read as finished has all its events committed already.
    state = RunSchema().dump(runs.get_run(scope, run_id))
    events = runs.events_after(scope, run_id, after, limit=LIVE_EVENTS)
    if len(events) == LIVE_EVENTS:
        next_poll_ms: int | None = 0  # more are waiting
    elif state["finished"]:
        next_poll_ms = None  # nothing will change any more
    else:
        next_poll_ms = FLOWING_POLL_MS if events else QUIET_POLL_MS
    response = jsonify(
        events=RunEventSchema(many=True).dump(events),
        after=events[-1].counter if events else after,
        run=state,
        next_poll_ms=next_poll_ms,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
