"""Help: the user guide, as `make docs` built it (site/ of the repository), served read-only."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_from_directory, url_for
from flask_login import login_required
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from webapp import guide

bp = Blueprint("help", __name__, url_prefix="/help")

# The app's policy, except that the theme's own inline scripts (its search index location, its menu)
# may run: the guide's pages are built from the repository only, never from anything a user typed.
GUIDE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def guide_dir() -> Path:
    return Path(current_app.config["MAILFLEET_REPO_DIR"]) / "site"


@bp.app_template_global()
def guide_url(anchor: str) -> str:
    """The Help URL of a guide anchor (``page/#id``, from webapp.guide)."""
    page, _, fragment = anchor.partition("#")
    url = url_for("help.page", path=page) if page else url_for("help.page")
    return f"{url}#{fragment}" if fragment else url


@bp.app_template_global()
def check_help(check: str) -> str | None:
    anchor = guide.check_anchor(check)
    return guide_url(anchor) if anchor else None


@bp.app_template_global()
def finding_help(code: str) -> str:
    return guide_url(guide.finding_anchor(code))


@bp.app_template_global()
def run_help(catalogue_key: str | None) -> str:
    return guide_url(guide.run_anchor(catalogue_key or ""))


@bp.route("/", defaults={"path": ""})
@bp.route("/<path:path>")
@login_required
def page(path: str) -> Response | tuple[str, int]:
    root = guide_dir()
    if not (root / "index.html").is_file():
        return render_template("error.html", code=404,
                               message="The guide is not built on this server: run make docs."), 404
    target = safe_join(str(root), path)
    if target is None:
        abort(404)
    if Path(target).is_dir():
        path = f"{path.rstrip('/')}/index.html".lstrip("/")
    response = send_from_directory(root, path)
    response.headers["Content-Security-Policy"] = GUIDE_CONTENT_SECURITY_POLICY
    return response
