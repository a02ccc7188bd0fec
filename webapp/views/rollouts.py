"""Fleet rollouts (administrators): the list with the form that starts one, and one rollout's
progress on one page, each server's run linked."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.forms import ActionForm, RolloutForm
from webapp.services import rollouts
from webapp.services.scope import Scope
from webapp.views import Then, button_post, form_post

bp = Blueprint("rollouts", __name__)


def _form() -> RolloutForm:
    form = RolloutForm()
    form.playbook.choices = [(p.key, p.title) for p in rollouts.offered()]
    return form


@bp.route("/rollouts")
@login_required
def index() -> str:
    scope = Scope(current_user)
    scope.require_admin()
    return render_template(
        "rollouts/index.html",
        rollouts=rollouts.list_rollouts(scope),
        form=_form(),
        progress=rollouts.progress,
    )


@bp.route("/rollouts", methods=["POST"])
@login_required
def start() -> Response:
    scope = Scope(current_user)
    scope.require_admin()
    form = _form()

    def act() -> Then:
        slugs = [slug.strip() for slug in (form.tenants.data or "").split(",") if slug.strip()]
        rollout = rollouts.start_rollout(
            scope, form.playbook.data, form.share.data, form.failure_threshold.data, slugs or None
        )
        message = f"Rollout {rollout.id} started on {len(rollout.targets)} servers."
        return Then(message, "rollouts.detail", {"rollout_id": rollout.id})

    return form_post(form, None, act, "rollouts.index", {})


@bp.route("/rollouts/<int:rollout_id>")
@login_required
def detail(rollout_id: int) -> str:
    rollout = rollouts.get_rollout(Scope(current_user), rollout_id)
    return render_template(
        "rollouts/detail.html", rollout=rollout, progress=rollouts.progress(rollout), action_form=ActionForm()
    )


@bp.route("/rollouts/<int:rollout_id>/stop", methods=["POST"])
@login_required
def stop(rollout_id: int) -> Response:
    def act() -> str:
        rollouts.stop_rollout(Scope(current_user), rollout_id)
        return f"Rollout {rollout_id} stopped: no new run starts, the ones not started are canceled."

    values = {"rollout_id": rollout_id}
    return button_post(act, "rollouts.detail", values)
