"""The server's entry point: the app it serves has its startup objects out of the garbage
collector's reach, so no request pays for a full collection walking the whole app."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from controlplane import forget_deployment
from flask import Flask

from webapp import testing, wsgi
from webapp.extensions import db

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def server_app(tmp_path, monkeypatch) -> Iterator[Flask]:
    """The test configuration, built through the server's entry point."""
    forget_deployment(monkeypatch)
    monkeypatch.setattr(testing, "create_app", wsgi.create_server_app)
    app = testing.make_app(tmp_path)
    try:
        yield app
    finally:
        gc.unfreeze()  # the rest of the suite's objects go back to the collector
        with app.app_context():
            db.engine.dispose()


def test_a_collection_walks_none_of_the_apps_startup_objects(server_app):
    walked = gc.get_objects()  # every generation the collector walks; frozen objects are not in it
    assert not any(o is server_app or o is server_app.url_map for o in walked)
    assert len(walked) < gc.get_freeze_count() / 10
    assert server_app.test_client().get("/login").status_code == 200


def test_the_server_units_serve_the_entry_point():
    unit = REPO / "roles/controller/templates/etc/systemd/system/mailfleet-web.service.j2"
    assert "'webapp.wsgi:create_server_app()'" in unit.read_text()
    assert "--call webapp.wsgi:create_server_app\n" in (REPO / "Procfile").read_text()
