"""Failover on a real database and the Hostwinds double: a server whose every port check has
alerted longer than the threshold is down; the sweep offers its recovery (recorded on the alert's
timeline, once; shown on the tenant page and the health board) or, for a tenant an admin opted in
(the API or the tenant page, recorded on the timeline), starts it onto another location, and
records why. A start that was refused is tried again by the cron job while the server stays down,
a bounded number of times. One closed port, a fresh outage, or a tenant that cannot recover start
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.app import use_app
from jobs.failover import check_failover
from mailfleet.clock import utcnow
from mailfleet.monitoring import EventKind
from webapp.extensions import db
from webapp.models import (
    Domain,
    DomainStatus,
    HealthAlert,
    HealthAlertEvent,
    HealthCheck,
    Run,
    Server,
    ServerBackup,
    ServerStatus,
)
from webapp.services import accounts, failover
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

SNAPSHOT = "7" * 64
SNAPSHOTS = [{"id": SNAPSHOT, "short_id": SNAPSHOT[:8], "time": "2026-12-01T10:00:00Z"}]
PORTS = ("port:25@198.19.0.10", "port:993@198.19.0.10")


@pytest.fixture
def lost(world, hostwinds):
    """acme's mf-acme-1 in Seattle with its domain, a snapshot and its two port checks passing."""
    server = Server(
        tenant_id=world.acme.id,
        name="mf-acme-1",
        mail_hostname="mail.acme.test",
        public_ipv4="198.19.0.10",
        location="Seattle",
        plan="101",
        status=ServerStatus.ACTIVE,
    )
    db.session.add(server)
    db.session.flush()
    db.session.add(
        Domain(tenant_id=world.acme.id, server_id=server.id, name="acme.test", status=DomainStatus.ACTIVE)
    )
    db.session.add(
        ServerBackup(
            server_id=server.id, collected_at=utcnow(), status={"repository": {"snapshots": SNAPSHOTS}}
        )
    )
    for check in PORTS:
        db.session.add(HealthCheck(server_id=server.id, check=check, last_status="ok"))
    db.session.commit()
    return server


def failing(server: Server, check: str, minutes: int) -> HealthAlert:
    """The check has failed and alerted `minutes` ago."""
    opened = utcnow() - timedelta(minutes=minutes)
    alert = HealthAlert(server_id=server.id, check=check, severity="critical", state="open", opened_at=opened)
    db.session.add(alert)
    db.session.flush()
    row = db.session.scalar(
        select(HealthCheck).where(HealthCheck.server_id == server.id, HealthCheck.check == check)
    )
    row.last_status, row.alert_id = "error", alert.id
    db.session.commit()
    return alert


def timeline(alert: HealthAlert) -> list[str]:
    return list(
        db.session.scalars(
            select(HealthAlertEvent.detail).where(
                HealthAlertEvent.alert_id == alert.id, HealthAlertEvent.kind == EventKind.FAILOVER
            )
        )
    )


def recoveries() -> list[Run]:
    return list(db.session.scalars(select(Run).where(Run.catalogue_key == "provision")))


def test_one_closed_port_or_a_fresh_outage_is_not_down(world, lost):
    failing(lost, PORTS[0], 45)
    assert failover.down_servers(Scope.system()) == []  # 993 still answers
    failing(lost, PORTS[1], 10)
    assert failover.down_servers(Scope.system()) == []  # under the 30 minutes
    assert failover.sweep() == {"offered": 0, "started": 0, "refused": 0}


def test_a_down_server_is_offered_once_and_the_page_says_so(client, world, lost):
    first = failing(lost, PORTS[0], 45)
    failing(lost, PORTS[1], 40)
    [down] = failover.down_servers(Scope.system())
    assert (down.server.id, down.alert.id) == (lost.id, first.id)
    assert failover.sweep()["offered"] == 1
    assert failover.sweep()["offered"] == 0  # once per alert
    [offered] = timeline(first)
    assert offered.startswith("failover offered: every port check of mf-acme-1 has failed since")
    assert recoveries() == []
    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get("/tenants/acme").get_data(as_text=True)
    banner = page.split('data-failover="mf-acme-1"', 1)[1].split("</p>", 1)[0]
    assert "Recover it onto a new server" in banner and f"server_id={lost.id}" in banner
    login(client, world.bob.email, TEST_PASSWORD)
    assert 'data-failover="mf-acme-1"' not in client.get("/tenants/globex").get_data(as_text=True)


def test_a_tenant_that_opted_in_recovers_onto_another_location(world, lost):
    failover.set_failover_auto(Scope(world.admin), world.acme, True)
    first = failing(lost, PORTS[0], 45)
    failing(lost, PORTS[1], 40)
    assert failover.sweep() == {"offered": 0, "started": 1, "refused": 0}
    [run] = recoveries()
    assert run.extravars["recover_from_host"] == "mf-acme-1"
    assert run.extravars["server_location"] != "Seattle"
    assert run.extravars["server_plan"] == "101"
    [started] = timeline(first)
    assert started.startswith(f"failover started: recovery run {run.id} onto a new server;")
    assert failover.sweep()["started"] == 0 and len(recoveries()) == 1


@pytest.fixture
def refusing(world, lost) -> HealthAlert:
    """acme opted in and mf-acme-1 down with no snapshot to recover from: its oldest port alert."""
    failover.set_failover_auto(Scope(world.admin), world.acme, True)
    db.session.get(ServerBackup, lost.id).status = {"repository": {"snapshots": []}}
    db.session.commit()
    first = failing(lost, PORTS[0], 45)
    failing(lost, PORTS[1], 40)
    return first


def test_a_failover_that_cannot_start_says_why_and_changes_nothing(refusing):
    first = refusing
    assert failover.sweep()["refused"] == 1
    [why] = timeline(first)
    assert why.startswith("failover could not start (attempt 1 of 3, tried again on the next check): ")
    assert "mf-acme-1 has no backup snapshot yet" in why
    assert (
        recoveries() == [] and db.session.scalar(select(Server.id).where(Server.name == "mf-acme-2")) is None
    )


def test_only_an_admin_opts_a_tenant_in(client, world):
    def token(user):
        return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}

    refused = client.patch("/api/v1/tenants/acme", json={"failover_auto": True}, headers=token(world.alice))
    assert refused.status_code == 403 and not world.acme.failover_auto
    done = client.patch("/api/v1/tenants/acme", json={"failover_auto": True}, headers=token(world.admin))
    assert done.status_code == 200 and done.get_json()["failover_auto"] is True
    assert done.get_json()["home_region"] is None  # left as it was


@pytest.fixture
def cron(app):
    """The cron job function as rq cron calls it, on this test's app; the test's session then
    reads what the job's own session committed."""
    use_app(app)

    def tick() -> dict[str, int]:
        counts = check_failover()
        db.session.expire_all()
        return counts

    yield tick
    use_app(None)


def test_a_refused_failover_is_tried_on_each_tick_while_down_then_given_up(refusing, cron):
    first = refusing
    assert [cron()["refused"] for _ in range(4)] == [1, 1, 1, 0]
    tries = [d for d in timeline(first) if d.startswith("failover could not start")]
    assert [t.split(":", 1)[0] for t in tries] == [
        "failover could not start (attempt 1 of 3, tried again on the next check)",
        "failover could not start (attempt 2 of 3, tried again on the next check)",
        "failover could not start (attempt 3 of 3, no more attempts)",
    ]
    assert all("mf-acme-1 has no backup snapshot yet" in t for t in tries)
    assert recoveries() == []


def test_a_retry_starts_once_the_cause_is_gone_and_only_once(lost, refusing, cron):
    first = refusing
    assert cron() == {"offered": 0, "started": 0, "refused": 1}
    db.session.get(ServerBackup, lost.id).status = {"repository": {"snapshots": SNAPSHOTS}}  # taken now
    db.session.commit()
    assert cron() == {"offered": 0, "started": 1, "refused": 0}
    [run] = recoveries()
    assert timeline(first)[-1].startswith(f"failover started: recovery run {run.id} onto a new server;")
    assert cron() == {"offered": 0, "started": 0, "refused": 0} and len(recoveries()) == 1


def test_a_server_back_up_is_not_retried(refusing, cron):
    first = refusing
    assert cron()["refused"] == 1
    first.resolved_at, first.state = utcnow(), "resolved"  # port 25 answers again
    db.session.commit()
    assert cron() == {"offered": 0, "started": 0, "refused": 0}
    assert len(timeline(first)) == 1


def test_an_offer_then_an_opt_in_starts_the_recovery_on_the_next_tick(world, lost, cron):
    first = failing(lost, PORTS[0], 45)
    failing(lost, PORTS[1], 40)
    assert cron()["offered"] == 1
    failover.set_failover_auto(Scope(world.admin), world.acme, True)
    assert cron() == {"offered": 0, "started": 1, "refused": 0}
    offered, opted, started = timeline(first)
    assert offered.startswith("failover offered") and started.startswith("failover started")
    assert opted == "failover turned on for acme by admin@example.com"


def test_the_health_board_offers_the_recovery_to_whoever_sees_the_server(client, world, lost):
    first = failing(lost, PORTS[0], 45)
    failing(lost, PORTS[1], 40)
    for user in (world.alice, world.admin):
        login(client, user.email, TEST_PASSWORD)
        page = client.get("/health").get_data(as_text=True)
        banner = page.split('data-failover="mf-acme-1"', 1)[1].split("</p>", 1)[0]
        assert "acme: every port check of mf-acme-1 has failed since" in banner
        assert f"/tenants/acme/recover?server_id={lost.id}" in banner.replace("&amp;", "&")
        assert f"/health/alerts/{first.id}" in banner
    login(client, world.bob.email, TEST_PASSWORD)
    assert 'data-failover="mf-acme-1"' not in client.get("/health").get_data(as_text=True)


def test_an_admin_turns_failover_on_from_the_tenant_page_with_the_confirmation(client, world, lost):
    first = failing(lost, PORTS[0], 45)
    page = "/tenants/acme"

    def post(on: str, **extra: str) -> str:
        data = {"on": on, "csrf_token": csrf_token(client, page), **extra}
        return client.post(f"{page}/failover", data=data, follow_redirects=True).get_data(as_text=True)

    login(client, world.alice.email, TEST_PASSWORD)
    assert 'id="failover-form"' not in client.get(page).get_data(as_text=True)
    login(client, world.admin.email, TEST_PASSWORD)
    assert "Turn failover on" in client.get(page).get_data(as_text=True)
    assert "Check the form: confirm: tick the confirmation" in post("yes")
    assert "Check the form: on: yes or no" in post("maybe", confirm="y")
    db.session.expire_all()
    assert not world.acme.failover_auto and timeline(first) == []
    assert "Failover is on for acme" in post("yes", confirm="y")
    db.session.expire_all()
    assert world.acme.failover_auto
    assert "Turn failover off" in client.get(page).get_data(as_text=True)
    post("yes", confirm="y")  # a resent form changes nothing
    assert timeline(first) == ["failover turned on for acme by admin@example.com"]
    # The API's change takes the same path and leaves the same record.
    token = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    assert (
        client.patch("/api/v1/tenants/acme", json={"failover_auto": False}, headers=token).status_code == 200
    )
    db.session.expire_all()
    assert timeline(first)[-1] == "failover turned off for acme by admin@example.com"


def test_only_an_admin_turns_failover_on_from_the_page(client, world, lost):
    first = failing(lost, PORTS[0], 45)
    login(client, world.alice.email, TEST_PASSWORD)
    data = {"on": "yes", "confirm": "y", "csrf_token": csrf_token(client, "/tenants/acme")}
    refused = client.post("/tenants/acme/failover", data=data, follow_redirects=True)
    assert "only administrators may do this" in refused.get_data(as_text=True)
    login(client, world.bob.email, TEST_PASSWORD)
    data["csrf_token"] = csrf_token(client, "/tenants/globex")
    assert client.post("/tenants/acme/failover", data=data).status_code == 404  # not bob's tenant
    db.session.expire_all()
    assert not world.acme.failover_auto and timeline(first) == []
