"""The landing page: servers by status, recent runs, failing hosts."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from webapp.services import dashboard
from webapp.services.scope import Scope

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@login_required
def index() -> str:
    return render_template("dashboard.html", **dashboard.summary(Scope(current_user)))
