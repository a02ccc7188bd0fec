"""A health sweep that fails is seen and alerted, not silent: the health pages show when the last
sweep ran, whether it worked and (to administrators) why not; the admin's notifier gets a
"monitoring" alert at the first failure and its resolution at the first good sweep."""

from __future__ import annotations

import json
import re

import pytest

from jobs import health as job
from jobs.app import use_app
from mailfleet.monitoring import MonitoringConfigError
from webapp.services import accounts
from webapp.testing import TEST_PASSWORD, ServedApp, login

pytestmark = pytest.mark.unit


class Receiver:
    """A webhook receiver: keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def __call__(self, environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        self.bodies.append(json.loads(environ["wsgi.input"].read(size)))
        start_response("204 No Content", [])
        return [b""]


@pytest.fixture
def webhook(app, monkeypatch):
    receiver = Receiver()
    served = ServedApp(receiver)
    monkeypatch.setenv("MAILFLEET_ALERT_WEBHOOK_URL", f"{served.url}/hook")
    monkeypatch.setenv("MAILFLEET_ALERT_WEBHOOK_SECRET", "a-webhook-key-for-tests")
    monkeypatch.delenv("MAILFLEET_MONITORING_RESOLVER", raising=False)
    monkeypatch.delenv("MAILFLEET_MONITORING_CONFIG_FILE", raising=False)
    use_app(app)
    yield receiver
    use_app(None)
    served.stop()


def _as(client, user):
    assert login(client, user.email, TEST_PASSWORD).status_code == 302
    return client


def _text(client, url: str = "/health") -> str:
    return client.get(url).get_data(as_text=True)


def test_no_sweep_yet_says_so_and_not_that_one_is_coming(client, world):
    page = _text(_as(client, world.admin))
    assert "No health sweep has run yet" in page and "check that both processes run" in page


def test_a_failed_sweep_is_shown_alerted_and_resolved_by_the_next_good_one(
    client, world, webhook, monkeypatch
):
    _as(client, world.admin)
    with pytest.raises(MonitoringConfigError, match="resolver"):
        job.sweep_health()

    page = _text(client)
    assert "Health monitoring is failing" in page
    assert "MonitoringConfigError" in page and "resolver" in page
    [opened] = webhook.bodies
    assert opened["event"] == "opened" and opened["alert"]["severity"] == "critical"
    assert (opened["alert"]["server"], opened["alert"]["check"]) == ("(control plane)", "monitoring")
    assert "resolver" in opened["alert"]["detail"]
    alerts = _text(client, "/health/alerts?state=open")
    assert "(control plane)" in alerts and "resolver" in alerts
    alert_id = int(re.search(r'href="/health/alerts/(\d+)"', alerts).group(1))
    timeline = _text(client, f"/health/alerts/{alert_id}")
    assert "the health sweep itself" in timeline and 'id="alert-state">open' in timeline
    api = client.get(
        "/api/v1/health/alerts?state=open",
        headers={"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"},
    ).get_json()["alerts"]
    shown = [(a["server"], a["server_id"], a["check"]) for a in api]
    assert shown == [("(control plane)", None, "monitoring")]

    with pytest.raises(MonitoringConfigError):  # still broken: no second notification
        job.sweep_health()
    assert len(webhook.bodies) == 1

    monkeypatch.setenv("MAILFLEET_MONITORING_RESOLVER", "127.0.0.1")
    assert job.sweep_health()["servers"] == 0
    assert [b["event"] for b in webhook.bodies] == ["opened", "resolved"]
    page = _text(client)
    assert "Health monitoring is failing" not in page
    assert "Last sweep" in page and "ok · sweep of 0 server(s)" in page
    assert "(control plane)" not in _text(client, "/health/alerts?state=open")


def test_members_learn_that_monitoring_is_broken_not_the_deployments_settings(client, world, webhook):
    with pytest.raises(MonitoringConfigError):
        job.sweep_health()
    _as(client, world.alice)
    page = _text(client)
    assert "Health monitoring is failing" in page and "administrators are alerted" in page
    assert "MonitoringConfigError" not in page
    assert "(control plane)" not in _text(client, "/health/alerts")
