"""jobs.health.sweep_health on the control plane's database: results stored, one alert opened with
its timeline, no duplicate notification on the next sweep, resolved after the fix."""

from __future__ import annotations

import json
import socket

import pytest
from controlplane import forget_deployment
from monitoring_fakes import WebhookReceiver
from provisioned import provision
from sqlalchemy import select

from jobs.app import use_app
from jobs.health import sweep_health
from webapp.extensions import db
from webapp.models import HealthAlert, HealthCheck, HealthResult, Role
from webapp.services import accounts, fleet, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, make_app

pytestmark = pytest.mark.testbed

ADDRESS = "127.77.18.130"
SECRET = "job-webhook-secret-0123456789"


@pytest.fixture
def app(tmp_path, monkeypatch):
    forget_deployment(monkeypatch)  # not the session plane's facts folder or provider
    receiver = WebhookReceiver("127.77.18.131")
    config = tmp_path / "monitoring.json"
    config.write_text(
        json.dumps(
            {
                "resolver": "127.77.18.3",
                "checks": ["ports"],
                "ports": [25],
                "connect_timeout": 1,
                "alerts": {"default": {"fail_after": 2, "pass_after": 1}},
            }
        )
    )
    monkeypatch.setenv("MAILFLEET_MONITORING_CONFIG_FILE", str(config))
    monkeypatch.setenv("MAILFLEET_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("MAILFLEET_ALERT_WEBHOOK_SECRET", SECRET)
    app = make_app(tmp_path)
    use_app(app)
    with app.app_context():
        admin = accounts.create_user("admin@example.com", TEST_PASSWORD, Role.ADMIN, None)
        acme = tenants.create_tenant(Scope(admin), "acme", "Acme")
        server = provision(app, Scope(admin), acme, "mail.acme.test", ADDRESS)
        assert server.hostname != server.mail_hostname  # the provider's name is not the mail host's
        # A second server still being built at the provider is not swept.
        fleet.provision_server(Scope(admin), acme, "Dallas", "101", "mail2.acme.test")
        app.receiver = receiver
        yield app
        db.session.remove()
        db.engine.dispose()
    use_app(None)
    receiver.close()


def test_sweep_job_stores_results_and_alerts_once(app):
    first = sweep_health()
    assert first["servers"] == 1 and first["checks"] == 1 and first["error"] == 1
    second = sweep_health()  # second failure in a row: the alert opens
    assert second["notifications"] == 1 and second["failed_deliveries"] == 0
    third = sweep_health()  # still failing: no new notification
    assert third["notifications"] == 0
    alert = db.session.scalar(select(HealthAlert).where(HealthAlert.server_id.is_not(None)))
    assert (alert.check, alert.state, alert.severity) == (f"port:25@{ADDRESS}", "open", "critical")
    assert [e.kind for e in alert.events] == ["opened"]

    listener = socket.create_server((ADDRESS, 25))
    try:
        fourth = sweep_health()
    finally:
        listener.close()
    assert fourth["ok"] == 1 and fourth["notifications"] == 1
    db.session.expire_all()
    alert = db.session.scalar(select(HealthAlert).where(HealthAlert.server_id.is_not(None)))
    assert alert.state == "resolved" and [e.kind for e in alert.events] == ["opened", "resolved"]
    check = db.session.scalar(select(HealthCheck).where(HealthCheck.server_id.is_not(None)))
    assert check.alert_id is None and check.last_status == "ok"
    assert db.session.query(HealthResult).where(HealthResult.server_id.is_not(None)).count() == 4
    # Each sweep also recorded its own outcome: four good sweeps, no monitoring alert.
    sweeps = db.session.scalars(select(HealthResult).where(HealthResult.server_id.is_(None))).all()
    assert [r.status for r in sweeps] == ["ok"] * 4
    events = [json.loads(body)["event"] for _, body in app.receiver.requests]
    assert events == ["opened", "resolved"]
