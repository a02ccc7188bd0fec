"""The Flask control plane: ``create_app()`` is the only entry point (web, CLI, workers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from mailfleet import logs
from mailfleet.files import private_file
from webapp import metrics, queue
from webapp.config import REPO_DIR, load_config
from webapp.extensions import csrf, db, login_manager, migrate
from webapp.routing import RowIdConverter

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then ``config`` on top (tests, tools)."""
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    overrides = dict(config or {})
    app.config.update(load_config(with_secret_key="SECRET_KEY" not in overrides))
    app.config.update(overrides)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # tied to the session instead of a clock
    if app.config.get("MAILFLEET_LOG_FORMAT"):
        logs.configure(app.config["MAILFLEET_LOG_FORMAT"])

    if app.config.get("MAILFLEET_TRUSTED_PROXIES"):
        hops = app.config["MAILFLEET_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    _prepare_sqlite(app)
    db.init_app(app)
    _listen_sqlite(app)
    # Batch mode lets later migrations alter columns on SQLite too.
    migrate.init_app(app, db, directory=str(REPO_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    queue.init_app(app)
    metrics.init_app(app)

    from webapp import cli, views

    views.register(app)
    cli.register(app)
    return app


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _prepare_sqlite(app: Flask) -> None:
    """WAL and a busy timeout, so the web app reads while workers write events."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite"):
        return
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        # SQLite gives its -wal and -shm files the database file's mode.
        private_file(Path(uri.removeprefix("sqlite:///")))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"].setdefault("connect_args", {"timeout": 30})


def _listen_sqlite(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_on_connect)
