"""The Flask app a worker process uses for database access (one per process, made on first use)."""

from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def worker_app() -> Flask:
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app


def forget_inherited_connections() -> None:
    """In a process forked from one that used the database: leave the parent's pooled connections
    to the parent (never used, nor closed, here), so this process opens connections of its own. A
    PostgreSQL session shared by two processes mixes their statements (psycopg's prepared
    statements clash, DuplicatePreparedStatement)."""
    if _app is None:
        return
    from webapp.extensions import db

    with _app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def use_app(app: Flask | None) -> None:
    """Tests (and the bench) hand in their app; None goes back to building one from the environment."""
    global _app
    _app = app
