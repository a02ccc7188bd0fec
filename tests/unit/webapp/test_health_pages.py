"""The health pages as people use them: the status board shows each check's colour, detail and
delisting link; tenants see only their own servers and alerts; acknowledging (CSRF-protected form
or JSON API) stops escalation; "check now" queues one sweep of one server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from rq.serializers import JSONSerializer

from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status, escalate_due, record_results
from webapp.extensions import db
from webapp.models import HealthAlert, Server, ServerStatus, SqlHealthStore
from webapp.queue import get_system_queue
from webapp.services import accounts
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICIES = AlertPolicies(AlertPolicy(fail_after=2, pass_after=2, escalate_after=timedelta(minutes=30)))
LISTED = "127.0.0.2 SBL listing: the address is on the Spamhaus Block List"
DELIST = "https://check.spamhaus.org/"


def _server(world, tenant, name: str, ip: str) -> Server:
    server = Server(
        tenant_id=tenant.id,
        name=name,
        hostname=f"hwsrv-{ip.rsplit('.', 1)[1]}.hostwindsdns.com",
        mail_hostname=f"mail.{tenant.slug}.test",
        public_ipv4=ip,
        status=ServerStatus.ACTIVE,
    )
    db.session.add(server)
    db.session.commit()
    return server


def _sweep(server: str, at: datetime, *, listed: bool, store: SqlHealthStore | None = None) -> list:
    """One sweep's worth of results for `server`: a healthy set, plus a DNSBL listing or not."""
    results = [
        CheckResult(server, "port:25@198.51.100.7", Status.OK, 12.5, "25 open in 12.5 ms", at),
        CheckResult(server, "tls:25", Status.WARNING, 9, "certificate expires in 9 days", at),
        CheckResult(server, "dkim:acme.test", Status.OK, None, "DKIM record matches the server's key", at),
        CheckResult(
            server,
            "dnsbl:zen.spamhaus.org:198.51.100.7",
            Status.ERROR if listed else Status.OK,
            "127.0.0.2" if listed else None,
            LISTED if listed else "not listed",
            at,
            link=DELIST if listed else None,
        ),
        CheckResult(
            server,
            "dnsbl:b.barracudacentral.org:198.51.100.7",
            Status.UNKNOWN,
            None,
            "127.255.255.254: query refused (resolver not registered)",
            at,
        ),
    ]
    return record_results(store or SqlHealthStore(), results, POLICIES)


@pytest.fixture
def fleet(world):
    acme = _server(world, world.acme, "mf-acme-1", "198.51.100.7")
    globex = _server(world, world.globex, "mf-globex-1", "198.51.100.8")
    for i in range(3):  # fail_after=2: the listing opens one alert on acme
        _sweep(acme.name, T0 + timedelta(minutes=5 * i), listed=True)
    _sweep(globex.name, T0, listed=False)
    alert = db.session.query(HealthAlert).filter_by(check="dnsbl:zen.spamhaus.org:198.51.100.7").one()
    return acme, globex, alert


def _as(client, user):
    assert login(client, user.email, TEST_PASSWORD).status_code == 302
    return client


def _row(page: str, check: str) -> str:
    match = re.search(rf'<tr class="h-row[^"]*" data-check="{re.escape(check)}".*?</tr>', page, re.S)
    assert match, f"no board row for {check}"
    return match.group(0)


def test_board_shows_each_check_in_its_colour_with_detail_and_delisting_link(client, world, fleet):
    acme, _, _ = fleet
    page = _as(client, world.alice).get(f"/health/servers/{acme.id}").get_data(as_text=True)
    listed = _row(page, "dnsbl:zen.spamhaus.org:198.51.100.7")
    assert 'data-status="error"' in listed and "h-dot h-error" in listed
    assert "SBL listing" in listed and f'href="{DELIST}"' in listed and "alert open" in listed
    assert 'data-status="warning"' in _row(page, "tls:25") and "expires in 9 days" in page
    assert 'data-status="ok"' in _row(page, "dkim:acme.test")
    unknown = _row(page, "dnsbl:b.barracudacentral.org:198.51.100.7")
    assert 'data-status="unknown"' in unknown and "h-dot h-unknown" in unknown
    # the history strip: one bar per sweep, red for the listed ones
    assert listed.count('class="h-bar h-error"') == 3
    # sections in Mail-in-a-Box order, errors first within a section
    assert page.index("Network and services") < page.index("Mail domains") < page.index("Blacklists")
    assert page.index("zen.spamhaus.org") < page.index("barracudacentral")
    assert "1 error<" in page and "1 warning<" in page


def test_check_history_page_has_a_chart_of_values_and_every_result(client, world, fleet):
    acme, _, _ = fleet
    page = _as(client, world.alice).get(f"/health/servers/{acme.id}/checks/port:25@198.51.100.7")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<polyline class="h-line"' in text  # numeric values: a line chart, inline SVG
    assert text.count("25 open in 12.5 ms") == 3 + 1  # three results + the current detail


def test_member_of_another_tenant_gets_404_for_board_check_alert_and_actions(client, world, fleet):
    acme, globex, alert = fleet
    _as(client, world.bob)
    for url in (
        f"/health/servers/{acme.id}",
        f"/health/servers/{acme.id}/checks/tls:25",
        f"/health/alerts/{alert.id}",
    ):
        assert client.get(url).status_code == 404, url
    token = csrf_token(client, f"/health/servers/{globex.id}")
    assert (
        client.post(f"/health/alerts/{alert.id}/acknowledge", data={"csrf_token": token}).status_code == 404
    )
    assert client.post(f"/health/servers/{acme.id}/check-now", data={"csrf_token": token}).status_code == 404
    overview = client.get("/health").get_data(as_text=True)
    assert "mf-globex-1" in overview and "mf-acme-1" not in overview
    assert "mf-acme-1" not in client.get("/health/alerts").get_data(as_text=True)
    assert db.session.get(HealthAlert, alert.id).state == "open"
    assert len(get_system_queue().jobs) == 0


def test_admin_sees_every_server_and_alert(as_admin, fleet):
    page = as_admin.get("/health").get_data(as_text=True)
    assert "mf-acme-1" in page and "mf-globex-1" in page
    assert "SBL listing" in as_admin.get("/health/alerts?state=open").get_data(as_text=True)
    assert as_admin.get("/health/alerts?state=bogus").status_code == 400


def test_acknowledge_needs_csrf_and_then_stops_escalation(client, world, fleet):
    acme, _, alert = fleet
    _as(client, world.alice)
    assert client.post(f"/health/alerts/{alert.id}/acknowledge", data={"note": "x"}).status_code in (302, 400)
    assert db.session.get(HealthAlert, alert.id).state == "open"  # no token: nothing changed

    token = csrf_token(client, f"/health/alerts/{alert.id}")
    reply = client.post(
        f"/health/alerts/{alert.id}/acknowledge",
        data={"csrf_token": token, "note": "asked Spamhaus to delist"},
    )
    assert reply.status_code == 302
    db.session.expire_all()
    acked = db.session.get(HealthAlert, alert.id)
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", world.alice.email)
    page = client.get(f"/health/alerts/{alert.id}").get_data(as_text=True)
    assert "asked Spamhaus to delist" in page and 'id="ack-form"' not in page
    timeline = page[page.index('<ol class="h-timeline">') :]
    assert timeline.index("opened") < timeline.index("acknowledged")  # the timeline, in order

    # 45 minutes after it turned critical: acknowledged, so no escalation is sent
    assert escalate_due(SqlHealthStore(), POLICIES, T0 + timedelta(minutes=55)) == []
    assert db.session.get(HealthAlert, alert.id).escalated_at is None


def test_unacknowledged_critical_alert_escalates(world, fleet):
    _, _, alert = fleet
    notes = escalate_due(SqlHealthStore(), POLICIES, T0 + timedelta(minutes=55))
    assert [n.kind.value for n in notes] == ["escalated"]


def test_acknowledge_twice_is_a_clear_conflict(client, world, fleet):
    _, _, alert = fleet
    _as(client, world.alice)
    for expected in ("Alert acknowledged", "already acknowledged"):
        token = csrf_token(client, f"/health/alerts/{alert.id}")
        page = client.post(
            f"/health/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=True
        ).get_data(as_text=True)
        assert expected in page


def test_resolved_alert_shows_resolved_and_cannot_be_acknowledged(client, world, fleet):
    acme, _, alert = fleet
    for i in (3, 4):  # pass_after=2
        _sweep(acme.name, T0 + timedelta(minutes=5 * i), listed=False)
    _as(client, world.alice)
    page = client.get(f"/health/alerts/{alert.id}").get_data(as_text=True)
    assert 'id="alert-state">resolved' in page and "2 passing checks in a row" in page
    board = client.get(f"/health/servers/{acme.id}").get_data(as_text=True)
    assert 'data-status="ok"' in _row(board, "dnsbl:zen.spamhaus.org:198.51.100.7")


def test_check_now_queues_one_sweep_of_that_server_by_dotted_name(client, world, fleet):
    acme, _, _ = fleet
    _as(client, world.alice)
    for _ in range(2):  # a double click queues one job
        token = csrf_token(client, f"/health/servers/{acme.id}")
        page = client.post(
            f"/health/servers/{acme.id}/check-now", data={"csrf_token": token}, follow_redirects=True
        ).get_data(as_text=True)
        assert "Check queued" in page
    jobs = get_system_queue().jobs
    assert len(jobs) == 1
    assert (jobs[0].func_name, list(jobs[0].args), jobs[0].serializer) == (
        "jobs.health.sweep_health",
        [acme.id],
        JSONSerializer,
    )


def test_check_now_refuses_a_server_that_cannot_be_checked(client, world, fleet):
    acme, _, _ = fleet
    acme.status = ServerStatus.BUILDING
    db.session.commit()
    _as(client, world.alice)
    token = csrf_token(client, f"/health/servers/{acme.id}")
    page = client.post(
        f"/health/servers/{acme.id}/check-now", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "cannot be checked yet" in page and len(get_system_queue().jobs) == 0


# ---------------------------------------------------------------------------------------- JSON API
def _token(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def test_api_board_alerts_and_acknowledge_are_scoped(client, world, fleet):
    acme, globex, alert = fleet
    alice, bob = _token(world.alice), _token(world.bob)
    board = client.get(f"/api/v1/health/servers/{acme.id}", headers=alice).get_json()
    assert board["overall"] == "error"
    listed = next(c for c in board["checks"] if c["check"].startswith("dnsbl:zen"))
    assert (listed["status"], listed["link"]) == ("error", DELIST)

    assert client.get(f"/api/v1/health/servers/{acme.id}", headers=bob).status_code == 404
    assert client.get(f"/api/v1/health/alerts/{alert.id}", headers=bob).status_code == 404
    assert client.get("/api/v1/health/alerts", headers=bob).get_json() == {"alerts": []}
    assert client.post(f"/api/v1/health/alerts/{alert.id}/acknowledge", headers=bob).status_code == 404

    reply = client.post(
        f"/api/v1/health/alerts/{alert.id}/acknowledge", headers=alice, json={"note": "on it"}
    )
    assert reply.status_code == 200
    data = reply.get_json()
    assert data["state"] == "acknowledged" and data["timeline"][-1]["detail"] == "on it"
    again = client.post(f"/api/v1/health/alerts/{alert.id}/acknowledge", headers=alice)
    assert again.status_code == 409 and "already acknowledged" in again.get_json()["error"]
    bad = client.post(f"/api/v1/health/alerts/{alert.id}/acknowledge", headers=alice, json={"note": 5})
    assert bad.status_code == 422 and bad.get_json()["fields"] == {"json": {"note": ["Not a valid string."]}}


def test_api_needs_a_token_not_a_session(client, world, fleet):
    _, _, alert = fleet
    _as(client, world.alice)  # a browser session is not enough for the API
    assert client.post(f"/api/v1/health/alerts/{alert.id}/acknowledge").status_code == 401


def test_api_check_now(client, world, fleet):
    acme, _, _ = fleet
    reply = client.post(f"/api/v1/health/servers/{acme.id}/check-now", headers=_token(world.alice))
    assert reply.status_code == 202 and reply.get_json()["job_id"].endswith(f"-health-{acme.id}")


@pytest.mark.parametrize(
    ("seconds", "said"), [(60, "every minute"), (90, "every 90 seconds"), (300, "every 5 minutes")]
)
def test_the_health_page_says_the_sweep_cadence_in_use(app, as_admin, seconds, said):
    app.config["MAILFLEET_HEALTH_SWEEP_SECONDS"] = seconds
    page = as_admin.get("/health").get_data(as_text=True)
    assert f"checked {said}</small>" in page
    assert f"rq cron starts one {said}" in page  # no sweep has run yet
