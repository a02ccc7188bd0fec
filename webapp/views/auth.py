"""Logging in and out, and the person's own API token."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from webapp.errors import MailfleetWebError, RateLimited
from webapp.forms import ActionForm, LoginForm, PasswordForm
from webapp.security import MIN_PASSWORD_LENGTH
from webapp.services import accounts
from webapp.views import back_with_error

bp = Blueprint("auth", __name__)


def _is_local_path(target: str) -> bool:
    """A path on this site only. Browsers drop tabs and line breaks and read a backslash as a
    slash (so "/\t/evil.example" goes off-site): any of those, or any other control character,
    makes the target unsafe rather than being stripped."""
    if not target.startswith("/") or "\\" in target:
        return False
    if any(unicodedata.category(char).startswith("C") for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not parts.path.startswith("//")


def _safe_next(target: str | None) -> str:
    return target if target and _is_local_path(target) else url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, request.remote_addr or "?")
        except RateLimited as exc:
            flash(str(exc), "error")
            return render_template("login.html", form=form), 429
        if user is None:
            flash("Wrong email or password.", "error")
            return render_template("login.html", form=form), 401
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    if ActionForm().validate_on_submit():
        accounts.end_sessions(current_user)  # copies of this session's cookie stop working too
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET"])
@login_required
def account() -> str:
    return render_template("account.html", form=ActionForm(), password_form=PasswordForm(), token=None)


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password() -> Response:
    form, user = PasswordForm(), current_user._get_current_object()
    if not form.validate_on_submit():
        flash(f"Check the form: the new password needs at least {MIN_PASSWORD_LENGTH} characters.", "error")
        return redirect(url_for("auth.account"))
    try:
        accounts.change_password(user, form.current.data, form.new.data)
    except MailfleetWebError as exc:
        return back_with_error(exc, "auth.account")
    login_user(user)  # this browser stays logged in; every other session has ended
    flash("Password changed; your other sessions were logged out.", "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/token", methods=["POST"])
@login_required
def new_token() -> Response | str:
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("auth.account"))
    token = accounts.issue_api_token(current_user)
    page = render_template("account.html", form=ActionForm(), password_form=PasswordForm(), token=token)
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"  # the token is shown once; no cache keeps it
    return response
