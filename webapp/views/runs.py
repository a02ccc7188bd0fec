"""Run history with filters, the run page (live output over server-sent events), cancel and retry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp import playbooks
from webapp.errors import InvalidInput, MailfleetWebError
from webapp.extensions import db
from webapp.forms import ActionForm, RetryForm, RunForm
from webapp.models import RunStatus, User
from webapp.services import runs
from webapp.services.scope import Scope
from webapp.views import back_with_error

bp = Blueprint("runs", __name__)

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
# A stream ends after this long; the browser reconnects with Last-Event-ID and loses nothing.
MAX_STREAM_SECONDS = 600.0
EVENTS_PER_POLL = 500
PAGE_EVENTS = 5000


def event_json(event: object) -> dict:
    return {
        "counter": event.counter,
        "event": event.event,
        "host": event.host_name,
        "task": event.task,
        "failed": event.failed,
        "changed": event.changed,
        "stdout": event.stdout,
    }


def sse(kind: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


def filters_from_args() -> runs.RunFilters:
    status = request.args.get("status") or None
    if status is not None and status not in RunStatus.__members__.values():
        raise InvalidInput(f"unknown status {status!r}")
    return runs.RunFilters(
        tenant_slug=(request.args.get("tenant") or None),
        status=RunStatus(status) if status else None,
        playbook=(request.args.get("playbook") or None),
        host=(request.args.get("host") or None),
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
        action_form=ActionForm(),
        retry_form=RetryForm(),
    )


@bp.route("/tenants/<slug>/runs", methods=["POST"])
@login_required
def submit(slug: str) -> Response:
    scope = Scope(current_user)
    tenant = scope.tenant(slug)
    form = RunForm()
    form.playbook.choices = [(p.key, p.title) for p in playbooks.CATALOGUE.values() if not p.variables]
    if not form.validate_on_submit():
        flash("Check the form: pick a playbook.", "error")
        return redirect(url_for("tenants.detail", slug=slug))
    try:
        run = runs.submit_run(
            scope,
            tenant,
            form.playbook.data,
            limit=form.limit.data or None,
            submission_key=form.submission_key.data,
        )
    except MailfleetWebError as exc:
        return back_with_error(exc, "tenants.detail", slug=slug)
    return redirect(url_for("runs.detail", run_id=run.id))


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


@bp.route("/runs/<int:run_id>/stream")
@login_required
def stream(run_id: int) -> Response:
    """Server-sent events: `line` per event (id = counter), `status` on change, `done` with the recap."""
    runs.get_run(Scope(current_user), run_id)  # 404 before streaming for runs the user may not see
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or 0)
    except ValueError:
        after = 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    user_id = current_user.id

    def generate() -> Iterator[str]:
        nonlocal after
        started = last_sent = time.monotonic()
        last_status = None
        yield "retry: 2000\n\n"
        while time.monotonic() - started < MAX_STREAM_SECONDS:
            with app.app_context():  # a fresh session per poll sees the workers' new rows
                scope = Scope(db.session.get(User, user_id))
                events = runs.events_after(scope, run_id, after, limit=EVENTS_PER_POLL)
                run = runs.get_run(scope, run_id)
                status, recap, rc = run.status, run.recap, run.rc
                reason = run.failure_reason
            for event in events:
                after = event.counter
                yield sse("line", event_json(event), event.counter)
            if status != last_status:
                last_status = status
                yield sse("status", {"status": str(status), "rc": rc, "reason": reason})
            if events:
                last_sent = time.monotonic()
                continue
            if status.finished:
                yield sse("done", {"status": str(status), "rc": rc, "recap": recap})
                return
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ": keepalive\n\n"
            time.sleep(POLL_SECONDS)

    return Response(
        generate(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
