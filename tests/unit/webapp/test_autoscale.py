"""Auto-scaling on a real database and the Hostwinds double: recommend raises the resize
recommendation as an alert; act orders the same resize run as the usage page's button, holds it
for the cooldown and the budget (and says so), and records every decision with its reason; the
mode is set per tenant and per server from the pages and the API, by people who may spend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import test_capacity
from flask import current_app
from sqlalchemy import select
from test_capacity import samples

from mailfleet.clock import utcnow
from mailfleet.monitoring import record_results
from webapp.extensions import db
from webapp.models import (
    AutoScale,
    HealthAlert,
    Role,
    Run,
    RunStatus,
    RunTrigger,
    ScaleAction,
    ScaleDecision,
    SqlHealthStore,
)
from webapp.models.usage import FIVE_MINUTES
from webapp.services import accounts, autoscale, costs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, end_run, login

pytestmark = pytest.mark.unit

server = test_capacity.server  # the fixture: acme's mf-acme-1 on the 1 GB plan, active


def busy_for(server, days: float = 15, now=None) -> None:
    """`days` of 5-minute samples at 95 % CPU: the 1 GB plan calls for the 2 GB one (+5.00)."""
    samples(server, now or utcnow(), FIVE_MINUTES, int(days * 288), disk_start=5_000, disk_per_step=0, cpu=95)


def hourly_check(now=None):
    """What the hourly usage job does with auto-scaling: decide, then the alert engine."""
    now = now or utcnow()
    results = autoscale.autoscale_results(now)
    record_results(SqlHealthStore(), results, costs.BUDGET_POLICY)
    return results


def alert(server):
    return db.session.scalar(
        select(HealthAlert).where(HealthAlert.server_id == server.id, HealthAlert.check == "autoscale")
    )


def decisions(server):
    return db.session.scalars(select(ScaleDecision).where(ScaleDecision.server_id == server.id)).all()


def test_off_does_nothing_and_recommend_alerts_once_without_ordering(world, server, hostwinds):
    busy_for(server)
    assert hourly_check() == [] and alert(server) is None
    world.acme.autoscale = AutoScale.RECOMMEND
    db.session.commit()
    [result] = hourly_check()
    assert result.status.value == "warning"
    found = alert(server)
    assert found is not None and found.state == "open"
    assert "mf-acme-1 upsize to Unmetered SSD VPS 2 GB (+5.00 dollars a month) recommended" in found.detail
    assert "because 95th percentile CPU 95 % > 80 %" in found.detail
    hourly_check()  # the same recommendation an hour later: no second decision, no order
    [decision] = decisions(server)
    assert (decision.mode, decision.action, decision.plan) == (
        AutoScale.RECOMMEND,
        ScaleAction.RECOMMENDED,
        "Unmetered SSD VPS 2 GB",
    )
    assert db.session.scalars(select(Run)).all() == []
    # Turned off with the alert open: the alert resolves.
    world.acme.autoscale = AutoScale.OFF
    db.session.commit()
    hourly_check()
    assert alert(server).state == "resolved"


def test_act_orders_the_buttons_resize_run_then_judges_the_new_plan_afresh(world, server, hostwinds):
    busy_for(server)
    server.autoscale = AutoScale.ACT  # the server's own mode; the tenant's stays off
    db.session.commit()
    hourly_check()
    [run] = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.trigger, run.created_by_id) == ("resize", RunTrigger.SCHEDULE, None)
    assert run.extravars == {  # what the usage page's Resize and the API queue
        "mailfleet_tenant": "acme",
        "mailfleet_provider": "hostwinds",
        "server_index": 1,
        "server_plan": "102",
        "resize_monthly_price": "9.99",
        "resize_previous_price": "4.99",
    }
    [decision] = decisions(server)
    assert (decision.action, decision.run_id, decision.change) == (
        ScaleAction.RESIZED,
        run.id,
        Decimal("5.00"),
    )
    assert f"ordered as run {run.id}, because 95th percentile CPU 95 %" in alert(server).detail
    hourly_check()  # while the run is under way: held, nothing more ordered
    assert len(db.session.scalars(select(Run)).all()) == 1
    assert "already resizing" in decisions(server)[-1].reason
    end_run(run)
    assert server.plan == "Unmetered SSD VPS 2 GB"
    hourly_check()  # the samples of the 1 GB plan no longer count
    assert decisions(server)[-1].action is ScaleAction.SETTLED
    assert "needs 14 days of samples on its plan" in decisions(server)[-1].reason
    assert alert(server).state == "resolved"
    assert len(db.session.scalars(select(Run)).all()) == 1


def test_act_holds_for_the_cooldown_and_says_so(world, server, hostwinds, monkeypatch):
    monkeypatch.setitem(current_app.config, "MAILFLEET_CAPACITY_MIN_HISTORY_DAYS", 1.0)
    monkeypatch.setitem(current_app.config, "MAILFLEET_AUTOSCALE_COOLDOWN_HOURS", 48.0)
    now = utcnow()
    earlier = Run(
        tenant_id=world.acme.id,
        playbook="resize.yml",
        catalogue_key="resize",
        status=RunStatus.SUCCESSFUL,
        extravars={"server_index": 1, "server_plan": "101"},
        finished_at=now - timedelta(hours=30),
    )
    db.session.add(earlier)
    busy_for(server, days=1.2, now=now)  # 28.8 hours since the resize: judged, but within 48
    world.acme.autoscale = AutoScale.ACT
    db.session.commit()
    hourly_check(now)
    [decision] = decisions(server)
    assert decision.action is ScaleAction.HELD
    assert f"held: resized by run {earlier.id}, cooldown until" in decision.reason
    assert "held: resized" in alert(server).detail
    assert db.session.scalars(select(Run).where(Run.id != earlier.id)).all() == []


def test_act_never_resizes_up_past_the_budget_and_the_alert_says_so(world, server, hostwinds):
    busy_for(server)
    world.acme.autoscale = AutoScale.ACT
    world.acme.monthly_budget = Decimal("8.00")  # 4.99 now; the 2 GB plan would make it 9.99
    db.session.commit()
    costs.sync_periods(utcnow())  # the price history the run rate is read from
    hourly_check()
    assert db.session.scalars(select(Run)).all() == []
    detail = alert(server).detail
    assert "held: it would take acme's run rate from $4.99 to $9.99 a month, past its $8.00 budget" in detail
    world.acme.monthly_budget = Decimal("10.00")
    db.session.commit()
    hourly_check()
    [run] = db.session.scalars(select(Run)).all()
    assert [d.action for d in decisions(server)] == [ScaleAction.HELD, ScaleAction.RESIZED]


def test_the_mode_from_the_pages_and_the_api_people_who_may_spend_only(client, world, server, hostwinds):
    manager = accounts.add_member(
        Scope(world.admin), world.acme, "mm@acme.example", TEST_PASSWORD, Role.MAILBOX_MANAGER
    )
    alice, bob, mm = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.alice, world.bob, manager)
    )
    path = f"/api/v1/servers/{server.id}/autoscale"
    assert client.put("/api/v1/tenants/acme/autoscale", json={"mode": "act"}, headers=mm).status_code == 403
    assert client.put("/api/v1/tenants/acme/autoscale", json={"mode": "act"}, headers=bob).status_code == 404
    assert (
        client.put("/api/v1/tenants/acme/autoscale", json={"mode": "fast"}, headers=alice).status_code == 422
    )
    assert client.put(path, json={"mode": "act"}, headers=bob).status_code == 404
    assert world.acme.autoscale is AutoScale.OFF and server.autoscale is None
    answer = client.put("/api/v1/tenants/acme/autoscale", json={"mode": "recommend"}, headers=alice)
    assert answer.status_code == 200 and answer.get_json() == {"tenant": "acme", "mode": "recommend"}
    doc = client.get(path, headers=alice).get_json()
    assert (doc["mode"], doc["own_mode"], doc["tenant_mode"], doc["decisions"]) == (
        "recommend",
        None,
        "recommend",
        [],
    )
    assert client.put(path, json={"mode": "act"}, headers=alice).get_json()["mode"] == "act"
    assert client.put(path, json={"mode": "tenant"}, headers=alice).get_json()["mode"] == "recommend"
    with pytest.raises(
        Exception, match="auto-scaling must be one of off, recommend, act, tenant, not 'sometimes'"
    ):
        autoscale.set_server_mode(Scope(world.alice), server, "sometimes")
    assert server.autoscale is None

    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    token = csrf_token(client, f"/servers/{server.id}/usage")
    page = client.post(
        f"/servers/{server.id}/autoscale", data={"csrf_token": token, "mode": "act"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Auto-scaling of mf-acme-1: act." in page and 'id="autoscale-form"' in page
    page = client.post(
        "/costs/acme/autoscale", data={"csrf_token": token, "mode": "never"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "auto-scaling must be one of off, recommend, act, not &#39;never&#39;" in page
    page = client.post(
        "/costs/acme/autoscale", data={"csrf_token": token, "mode": "off"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Auto-scaling of acme&#39;s servers: off." in page
    db.session.expire_all()
    assert (world.acme.autoscale, server.autoscale) == (AutoScale.OFF, AutoScale.ACT)


def test_a_digitalocean_server_is_judged_against_digitalocean_sizes(app, world, server, hostwinds):
    """Each server's own provider's price list: a busy droplet is told to take a bigger droplet size."""
    from mailfleet.digitalocean import DigitalOceanClient
    from testbed.doubles import digitalocean as digitalocean_double
    from webapp.testing import ServedApp

    served = ServedApp(digitalocean_double.create_app(digitalocean_double.DigitalOceanState()))
    try:
        app.config["DIGITALOCEAN_CLIENT"] = DigitalOceanClient(digitalocean_double.DEFAULT_TOKEN, served.url,
                                                               attempts=1)
        app.config["MAILFLEET_PROVIDERS"] = ("hostwinds", "digitalocean")
        server.provider, server.plan, server.monthly_price = "digitalocean", "s-1vcpu-1gb", Decimal("6.00")
        world.acme.autoscale = AutoScale.RECOMMEND
        db.session.commit()
        busy_for(server)
        [result] = hourly_check()
    finally:
        served.stop()
    assert "mf-acme-1 upsize to Basic 2 GB (+6.00 dollars a month) recommended" in result.detail
