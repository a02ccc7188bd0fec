"""Capacity on a real database and the Hostwinds double: the disk-full forecast and its alert,
plan recommendations, and resizing from the UI (confirmation with the price difference, only
people who may spend, the tenant's own servers, one resize at a time, the new plan afterwards)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.monitoring import Status
from webapp.extensions import db
from webapp.models import Role, Run, Server, ServerStatus
from webapp.models.usage import FIVE_MINUTES, HOUR, UsageSample
from webapp.services import accounts, capacity
from webapp.services.provider import Plan
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, end_run, login

pytestmark = pytest.mark.unit

SMALL = Plan("101", "Small", Decimal("4.99"), 1024, 30, 1000)
MEDIUM = Plan("102", "Medium", Decimal("9.99"), 2048, 50, 2000)
LARGE = Plan("103", "Large", Decimal("18.99"), 4096, 75, 3000)
PLANS = (SMALL, MEDIUM, LARGE)


@pytest.fixture
def server(world):
    found = Server(
        tenant_id=world.acme.id,
        name="mf-acme-1",
        plan="Unmetered SSD VPS 1 GB",
        monthly_price=Decimal("4.99"),
        status=ServerStatus.ACTIVE,
    )
    db.session.add(found)
    db.session.commit()
    return found


def samples(server, now, step, count, *, disk_start, disk_per_step, cpu=10, mem=(300, 1000)):
    end = int(now.timestamp()) // step * step
    db.session.add_all(
        UsageSample(
            server_id=server.id,
            step=step,
            ts=end - (count - 1 - i) * step,
            samples=1,
            cpu_pct=cpu,
            cpu_peak_pct=cpu,
            mem_used_mb=mem[0],
            mem_total_mb=mem[1],
            disk_used_mb=disk_start + i * disk_per_step,
            disk_total_mb=30_720,
        )
        for i in range(count)
    )
    db.session.commit()


def test_a_filling_disk_is_forecast_and_alerted_critical_within_two_days(server):
    now = utcnow()
    # 6 hours of 5-minute samples growing 100 MB each: 1.2 GB/hour; ~6 GB left at the end.
    samples(server, now, FIVE_MINUTES, 72, disk_start=17_600, disk_per_step=100)
    found = capacity.capacity(server, now, PLANS)
    assert found.disk.days == pytest.approx(6_020 / 28_800, rel=0.01)
    assert "6 hours" in found.disk.explanation and found.disk_status is Status.ERROR
    [result] = capacity.forecast_results(now)
    assert (result.server, result.check, result.status) == ("mf-acme-1", "disk_forecast", Status.ERROR)


def test_a_slow_weekly_trend_warns_within_the_warning_horizon(server, monkeypatch):
    now = utcnow()
    samples(server, now, HOUR, 7 * 24, disk_start=20_000, disk_per_step=5)  # 120 MB/day
    found = capacity.capacity(server, now, PLANS)
    assert "7 days" in found.disk.explanation
    assert found.disk.days == pytest.approx((30_720 - 20_835) / 120, rel=0.01)
    assert found.disk_status is Status.OK  # 82 days away
    monkeypatch.setitem(current_app.config, "MAILFLEET_DISK_FORECAST_WARNING_DAYS", 90.0)
    assert found.disk_status is Status.WARNING
    samples(server, now - timedelta(days=8), HOUR, 1, disk_start=0, disk_per_step=0)  # outside the window
    assert capacity.capacity(server, now, PLANS).disk.days == pytest.approx(found.disk.days)


def test_recommendations_need_history_and_name_the_plan_and_price_difference(server):
    server.plan = "Medium"
    hot = dict(cpu_p95=92.0, mem_p99=50.0, disk=None, disk_used_mb=10_000)
    young = capacity.recommend(server, PLANS, history=timedelta(days=3), **hot)
    assert young.direction == "stay" and "needs 14 days" in young.reason
    up = capacity.recommend(server, PLANS, history=timedelta(days=20), **hot)
    assert (up.direction, up.plan, up.change) == ("up", LARGE, Decimal("9.00"))
    assert "95th percentile CPU 92 %" in up.reason
    quiet = dict(cpu_p95=5.0, mem_p99=30.0, disk=None, disk_used_mb=4_000)
    down = capacity.recommend(server, PLANS, history=timedelta(days=30), **quiet)
    assert (down.direction, down.plan, down.change) == ("down", SMALL, Decimal("-5.00"))
    full = capacity.recommend(server, PLANS, history=timedelta(days=30), **{**quiet, "disk_used_mb": 20_000})
    assert full.direction == "stay"  # 20 GB would not fit the small plan with room to spare
    # A dearer plan with more memory but less monthly transfer is no upsize: the next one is.
    thin = Plan("102b", "Medium thin", Decimal("12.99"), 4096, 75, 1000)
    past_thin = capacity.recommend(server, (*PLANS, thin), history=timedelta(days=20), **hot)
    assert (past_thin.plan, past_thin.change) == (LARGE, Decimal("9.00"))
    server.plan = "Large"
    top = capacity.recommend(server, PLANS, history=timedelta(days=30), **hot)
    assert top.direction == "stay" and "no larger plan" in top.reason
    server.plan = "Retired plan"
    assert (
        "not in the provider's price list"
        in capacity.recommend(server, PLANS, history=timedelta(days=30), **hot).reason
    )


def test_growing_samples_show_the_disk_full_forecast_and_an_upsize_on_the_usage_page_and_api(
    client, world, server, hostwinds
):
    from webapp.services import accounts, usage

    now = utcnow()
    # 15 days of 5-minute samples, the disk growing 1 MB each (288 MB a day), 1,441 MB left at the
    # end: full in 5 days (a warning), within the 30 days that call for a larger plan.
    samples(server, now, FIVE_MINUTES, 15 * 288, disk_start=24_960, disk_per_step=1)
    assert usage.rollup(HOUR, now) > 0  # the 7-day fit reads the hourly rollups
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/servers/{server.id}/usage").get_data(as_text=True)
    assert "288 MB/day over the last 6 hours; 1,441 MB free: full in 5.0 days" in page
    assert 'class="s-warning"' in page
    assert "move up to Unmetered SSD VPS 2 GB ($+5.00 a month): disk full in 5 days" in page, page[
        page.find('id="recommendation"') :
    ][:300]

    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    answer = client.get(f"/api/v1/servers/{server.id}/capacity", headers=alice)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    found = answer.get_json()
    disk = found["disk"]
    assert (disk["status"], disk["unit"], disk["left"]) == ("warning", "MB", 1441.0)
    assert disk["days"] == pytest.approx(1441 / 288, rel=0.01)
    assert found["history_days"] == pytest.approx(15, abs=0.01)
    assert found["recommendation"] == {
        "direction": "up",
        "reason": "disk full in 5 days",
        "plan": "102",
        "plan_name": "Unmetered SSD VPS 2 GB",
        "change": "5.00",
    }
    assert (found["cpu_p95"], found["mem_p99"], found["plans_error"]) == (10.0, 30.0, None)
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    assert client.get(f"/api/v1/servers/{server.id}/capacity", headers=bob).status_code == 404


def test_a_young_flat_server_gets_no_forecast_date_and_no_recommendation_in_the_api(
    client, world, server, hostwinds
):
    from webapp.services import accounts

    now = utcnow()
    samples(server, now, FIVE_MINUTES, 12, disk_start=5_000, disk_per_step=0)
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    found = client.get(f"/api/v1/servers/{server.id}/capacity", headers=alice).get_json()
    assert found["disk"]["days"] is None and found["disk"]["status"] == "ok"
    assert "not growing" in found["disk"]["explanation"]
    advice = found["recommendation"]
    assert (advice["direction"], advice["plan"], advice["change"]) == ("stay", None, None)
    assert "needs 14 days of samples" in advice["reason"]
    assert found["bandwidth"] is None


@pytest.fixture
def manager(world):
    return accounts.add_member(
        Scope(world.admin), world.acme, "mm@acme.example", TEST_PASSWORD, Role.MAILBOX_MANAGER
    )


def test_resize_refusals_change_nothing(world, server, hostwinds, manager):
    acme = world.acme
    cases = [
        (Scope(manager), acme, server.id, "103", "mf-acme-1", "resizing servers takes a member or admin"),
        (Scope(world.bob), world.globex, server.id, "103", "mf-acme-1", "not found"),
        (Scope(world.alice), acme, server.id, "999", "mf-acme-1", "unknown plan"),
        (Scope(world.alice), acme, server.id, "101", "mf-acme-1", "already on"),
        (Scope(world.alice), acme, server.id, "103", "mf-acme-2", "type mf-acme-1 to confirm"),
    ]
    for scope, tenant, server_id, plan, typed, message in cases:
        with pytest.raises(Exception, match=message):
            capacity.resize_server(scope, tenant, server_id, plan, typed)
    acme.max_monthly_spend = Decimal("10.00")  # 4.99 now; the 4 GB plan adds 14.00
    db.session.commit()
    with pytest.raises(Exception, match="may spend at most 10.00"):
        capacity.resize_server(Scope(world.alice), acme, server.id, "103", "mf-acme-1")
    acme.max_monthly_spend, acme.monthly_budget = None, Decimal("15.00")  # the budget holds too
    db.session.commit()
    with pytest.raises(Exception, match=r"run rate from \$4.99 to \$18.99 a month, past its \$15.00 budget"):
        capacity.resize_server(Scope(world.alice), acme, server.id, "103", "mf-acme-1")
    assert db.session.scalars(select(Run)).all() == []


def test_resize_from_the_ui_confirms_the_price_difference_and_queues_one_run(
    client, world, server, hostwinds
):
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/servers/{server.id}/usage").get_data(as_text=True)
    assert "Resize to" in page and "Unmetered SSD VPS 4 GB" in page
    confirm = client.get(f"/tenants/acme/servers/{server.id}/resize?plan=103").get_data(as_text=True)
    assert "+14.00 dollars a month" in confirm and "from $4.99 to $18.99" in confirm
    token = csrf_token(client, f"/tenants/acme/servers/{server.id}/resize?plan=103")
    form = {"csrf_token": token, "plan": "103", "confirm": "mf-acme-1", "submission_key": "resize-key-1"}
    response = client.post(f"/tenants/acme/servers/{server.id}/resize", data=form)
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    [run] = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.playbook) == ("resize", "resize.yml")
    assert run.extravars == {
        "mailfleet_tenant": "acme",
        "mailfleet_provider": "hostwinds",
        "server_index": 1,
        "server_plan": "103",
        "resize_monthly_price": "18.99",
        "resize_previous_price": "4.99",
    }
    again = {**form, "submission_key": "resize-key-2"}
    busy = client.post(f"/tenants/acme/servers/{server.id}/resize", data=again, follow_redirects=True)
    assert "already resizing" in busy.get_data(as_text=True)
    assert len(db.session.scalars(select(Run)).all()) == 1
    end_run(run)
    assert (server.plan, server.monthly_price) == ("Unmetered SSD VPS 4 GB", Decimal("18.99"))
    # The server settles on its new plan before the next resize.
    with pytest.raises(Exception, match="the next resize can be ordered after"):
        capacity.resize_server(Scope(world.alice), world.acme, server.id, "102", "mf-acme-1")
    assert len(db.session.scalars(select(Run)).all()) == 1


def test_resize_through_the_api_confirms_refuses_and_queues_the_same_run(
    client, world, server, hostwinds, manager
):
    from webapp.services import accounts

    alice, bob, mm = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.alice, world.bob, manager)
    )
    path = f"/api/v1/tenants/acme/servers/{server.id}/resize"
    unconfirmed = client.post(path, json={"plan": "103"}, headers=alice)
    assert unconfirmed.status_code == 400 and "type mf-acme-1 to confirm" in unconfirmed.get_data(
        as_text=True
    )
    assert client.post(path, json={"plan": "999", "confirm": "mf-acme-1"}, headers=alice).status_code == 400
    assert client.post(path, json={"plan": "103", "confirm": "mf-acme-1"}, headers=mm).status_code == 403
    assert client.post(path, json={"plan": "103", "confirm": "mf-acme-1"}, headers=bob).status_code == 404
    assert client.post(path, json={"confirm": "mf-acme-1"}, headers=alice).status_code == 422
    assert db.session.scalars(select(Run)).all() == []
    keyed = {**alice, "Idempotency-Key": "resize-api-1"}
    answer = client.post(path, json={"plan": "103", "confirm": "mf-acme-1"}, headers=keyed)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    [run] = db.session.scalars(select(Run)).all()
    assert answer.get_json()["id"] == run.id and run.catalogue_key == "resize"
    assert (run.extravars["server_plan"], run.extravars["resize_monthly_price"]) == ("103", "18.99")
    again = client.post(path, json={"plan": "103", "confirm": "mf-acme-1"}, headers=keyed)
    assert again.status_code == 202 and again.get_json()["id"] == run.id  # the same run answered
    busy = client.post(path, json={"plan": "102", "confirm": "mf-acme-1"}, headers=alice)
    assert busy.status_code == 409 and "already resizing" in busy.get_data(as_text=True)
    assert len(db.session.scalars(select(Run)).all()) == 1


def test_people_who_may_not_spend_or_see_get_no_resize(client, world, server, hostwinds, manager):
    assert login(client, manager.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/servers/{server.id}/usage").get_data(as_text=True)
    assert "Resize to" not in page and "Capacity" in page
    refused = client.get(f"/tenants/acme/servers/{server.id}/resize?plan=103", follow_redirects=True)
    assert "resizing servers takes a member or admin" in refused.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, world.bob.email, TEST_PASSWORD).status_code == 302
    assert client.get(f"/servers/{server.id}/usage").status_code == 404
    assert client.get(f"/tenants/acme/servers/{server.id}/resize?plan=103").status_code == 404


def test_usage_csv_download_of_a_range_and_not_of_another_tenant(client, world, server):
    now = utcnow()
    samples(server, now, FIVE_MINUTES, 3, disk_start=1000, disk_per_step=10)
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    response = client.get(f"/servers/{server.id}/usage.csv?range=24h")
    assert response.mimetype == "text/csv"
    assert 'filename="mf-acme-1-usage-24h.csv"' in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("time,resolution_s,samples,cpu_pct,mem_used_mb")
    assert len(lines) == 4 and ",300,1,10,300,1000,1020," in lines[-1]
    assert client.get(f"/servers/{server.id}/usage.csv?range=1y").status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert login(client, world.bob.email, TEST_PASSWORD).status_code == 302
    assert client.get(f"/servers/{server.id}/usage.csv").status_code == 404
