"""The whole loop a person sees: the real sweep job probes a loopback "server", the board turns red
with the probe's detail, the alert opens, the member acknowledges it, the service comes back and
the board turns green with the alert resolved. Loopback only (instance 19's 127.77.19.x)."""

from __future__ import annotations

import json
import re
import socket

import pytest
from provisioned import provision

from jobs.app import use_app
from jobs.health import sweep_health
from webapp.extensions import db
from webapp.models import Role, Server
from webapp.services import accounts, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login, make_app

pytestmark = pytest.mark.testbed

ADDRESS = "127.77.19.140"


@pytest.fixture
def app(tmp_path, monkeypatch):
    config = tmp_path / "monitoring.json"
    config.write_text(
        json.dumps(
            {
                "resolver": "127.77.19.3",
                "checks": ["ports"],
                "ports": [25],
                "connect_timeout": 1,
                "alerts": {"default": {"fail_after": 2, "pass_after": 1}},
            }
        )
    )
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    for name in ("MAILFLEET_ALERT_WEBHOOK_URL", "MAILFLEET_ALERT_SMTP_HOST", "MAILFLEET_HEALTH_FACTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    app = make_app(tmp_path)
    use_app(app)
    with app.app_context():
        admin = accounts.create_user("admin@example.com", TEST_PASSWORD, Role.ADMIN, None)
        acme = tenants.create_tenant(Scope(admin), "acme", "Acme")
        accounts.add_member(Scope(admin), acme, "alice@acme.example", TEST_PASSWORD)
        provision(app, Scope(admin), acme, "mail.acme.test", ADDRESS)
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)


def _status(page: str) -> str:
    match = re.search(rf'data-check="port:25@{re.escape(ADDRESS)}" data-status="(\w+)"', page)
    assert match, "the port check is not on the board"
    return match.group(1)


def test_board_follows_the_real_sweep_red_then_acknowledged_then_green(app):
    client = app.test_client()
    assert login(client, "alice@acme.example", TEST_PASSWORD).status_code == 302
    server_id = db.session.query(Server.id).scalar()

    sweep_health(), sweep_health()  # nothing listens on port 25: two failures open the alert
    board = client.get(f"/health/servers/{server_id}").get_data(as_text=True)
    assert _status(board) == "error" and "alert open" in board
    assert "mail.acme.test" in board  # the mail host name, not the provider's
    alert_id = int(re.search(r'href="/health/alerts/(\d+)"', board).group(1))

    token = csrf_token(client, f"/health/alerts/{alert_id}")
    client.post(f"/health/alerts/{alert_id}/acknowledge", data={"csrf_token": token, "note": "restarting"})
    assert "alert acknowledged" in client.get(f"/health/servers/{server_id}").get_data(as_text=True)

    listener = socket.create_server((ADDRESS, 25))
    try:
        sweep_health()
    finally:
        listener.close()
    board = client.get(f"/health/servers/{server_id}").get_data(as_text=True)
    assert _status(board) == "ok" and "alert " not in board.split("Alerts of this server")[0]
    timeline = client.get(f"/health/alerts/{alert_id}").get_data(as_text=True)
    assert 'id="alert-state">resolved' in timeline
    assert [k for k in ("opened", "acknowledged", "resolved") if f"h-ev-{k}" in timeline] == [
        "opened",
        "acknowledged",
        "resolved",
    ]
