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


def use_app(app: Flask | None) -> None:
    """Tests (and the bench) hand in their app; None goes back to building one from the environment."""
    global _app
    _app = app
