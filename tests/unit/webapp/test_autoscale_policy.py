"""A tenant's auto-scaling policy on a real database and the Hostwinds double: its thresholds decide
when a server should grow (the usage page's advice follows them), its max plan and max monthly
spend hold an upsize back with the reason, its cooldown replaces the fleet's; bad policies are
refused with what is wrong and store nothing; administrators set it from the costs page and the
API, the tenant's people read it there, other tenants do not see it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import test_capacity
from flask import current_app
from sqlalchemy import select
from test_autoscale import alert, decisions, hourly_check
from test_capacity import samples

from mailfleet.clock import utcnow
from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import AutoScale, AutoScalePolicy, Run, RunStatus, ScaleAction
from webapp.models.usage import FIVE_MINUTES
from webapp.services import accounts, autoscale, capacity, costs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

server = test_capacity.server  # the fixture: acme's mf-acme-1 on the 1 GB plan ($4.99), active


def warm_for(server, cpu: float, days: float = 15, now=None) -> None:
    """`days` of 5-minute samples at `cpu` % CPU (memory 30 %, the disk steady)."""
    count = int(days * 288)
    samples(server, now or utcnow(), FIVE_MINUTES, count, disk_start=5_000, disk_per_step=0, cpu=cpu)


def put_policy(world, **fields):
    return autoscale.set_policy(Scope(world.admin), world.acme, {k: str(v) for k, v in fields.items()})


def stored(world):
    db.session.expire_all()
    return db.session.get(AutoScalePolicy, world.acme.id)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpu_p95_pct": "0"}, "the CPU threshold (95th percentile, %) must be from 1 to 100, not 0"),
        ({"mem_p99_pct": "101"}, "the memory threshold (99th percentile, %) must be from 1 to 100, not 101"),
        ({"disk_full_days": "soon"}, "threshold (days) must be a number from 1 to 100, not 'soon'"),
        ({"cpu_p95_pct": "nan"}, "must be from 1 to 100, not nan"),
        ({"cooldown_hours": "-1"}, "the cooldown (hours) must be from 0 to 8760, not -1"),
        ({"max_monthly_spend": "20.00"}, "the max monthly spend $20.00 is above acme's $15.00 budget"),
        ({"max_monthly_spend": "-5"}, "the max monthly spend must be more than 0"),
        ({"max_plan": "999"}, "unknown max plan '999'; Hostwinds offers 101 (Unmetered SSD VPS 1 GB)"),
        (
            {"max_plan": "101"},
            "the max plan Unmetered SSD VPS 1 GB ($4.99 a month) is smaller than mf-acme-1's current plan "
            "Unmetered SSD VPS 2 GB ($9.99 a month)",
        ),
    ],
)
def test_a_bad_policy_is_refused_with_what_is_wrong_and_nothing_is_stored(world, server, hostwinds, fields,
                                                                          message):
    server.plan, server.monthly_price = "Unmetered SSD VPS 2 GB", Decimal("9.99")
    world.acme.monthly_budget = Decimal("15.00")
    db.session.commit()
    put_policy(world, cpu_p95_pct=70, max_plan="103")  # a good one first: the bad one must not touch it
    before = (stored(world).cpu_p95_pct, stored(world).max_plan, stored(world).updated_at)
    with pytest.raises(InvalidInput) as refused:
        put_policy(world, **{"cpu_p95_pct": 60, "max_plan": "104", **fields})
    assert message in str(refused.value)
    found = stored(world)
    assert (found.cpu_p95_pct, found.max_plan, found.updated_at) == before


def test_only_administrators_set_it_and_the_defaults_apply_without_one(world, server, hostwinds):
    with pytest.raises(Forbidden):
        autoscale.set_policy(Scope(world.alice), world.acme, {"cpu_p95_pct": "50"})
    assert stored(world) is None
    found = autoscale.policy_of(world.acme)
    assert (found.own, found.cpu_p95_pct, found.mem_p99_pct, found.disk_full_days, found.cooldown_hours) == (
        False, 80.0, 90.0, 30.0, current_app.config["MAILFLEET_AUTOSCALE_COOLDOWN_HOURS"]
    )
    put_policy(world, cpu_p95_pct=50, max_plan="Unmetered SSD VPS 4 GB", max_monthly_spend="30")
    found = autoscale.policy_of(world.acme)
    assert (found.own, found.cpu_p95_pct, found.mem_p99_pct, found.max_plan, found.max_monthly_spend) == (
        True, 50.0, 90.0, "Unmetered SSD VPS 4 GB", Decimal("30.00")
    )
    assert autoscale.clear_policy(Scope(world.admin), world.acme).own is False and stored(world) is None


def test_the_thresholds_decide_when_a_server_grows(world, server, hostwinds):
    warm_for(server, cpu=70)  # under the default 80 %: the plan fits
    plans = capacity.offered_plans()[0]
    assert capacity.capacity(server, utcnow(), plans).recommendation.direction == "stay"
    world.acme.autoscale = AutoScale.RECOMMEND
    db.session.commit()
    put_policy(world, cpu_p95_pct=60)
    advice = capacity.capacity(server, utcnow(), plans).recommendation  # the usage page's card
    assert (advice.direction, advice.reason) == ("up", "95th percentile CPU 70 % > 60 %")
    [result] = hourly_check()
    assert "upsize to Unmetered SSD VPS 2 GB (+5.00 dollars a month) recommended" in result.detail
    assert "because 95th percentile CPU 70 % > 60 %" in alert(server).detail


def test_act_stays_within_the_max_plan_and_the_max_spend_and_says_why(world, server, hostwinds):
    server.plan, server.monthly_price = "Unmetered SSD VPS 2 GB", Decimal("9.99")
    world.acme.autoscale = AutoScale.ACT
    db.session.commit()
    costs.sync_periods(utcnow())  # the price history the run rate is read from
    warm_for(server, cpu=95)  # the 4 GB plan is next (+9.00)
    put_policy(world, max_plan="102")
    hourly_check()
    assert db.session.scalars(select(Run)).all() == []
    [held] = decisions(server)
    assert held.action is ScaleAction.HELD
    assert (
        "upsize to Unmetered SSD VPS 4 GB (+9.00 dollars a month) held: Unmetered SSD VPS 4 GB is past the "
        "policy's max plan Unmetered SSD VPS 2 GB ($9.99 a month), because 95th percentile CPU 95 %"
    ) in held.reason
    assert "past the policy's max plan" in alert(server).detail

    put_policy(world, max_plan="104", max_monthly_spend="15.00")  # 9.99 + 9.00 = 18.99 > 15.00
    [result] = hourly_check()  # still held (the same decision, not written again), now for the spend
    assert db.session.scalars(select(Run)).all() == []
    assert (
        "held: it would take acme's run rate from $9.99 to $18.99 a month, past the policy's $15.00 limit"
        in result.detail
    )
    put_policy(world, max_plan="104", max_monthly_spend="19.00")
    hourly_check()
    [run] = db.session.scalars(select(Run)).all()
    assert (run.catalogue_key, run.extravars["server_plan"]) == ("resize", "103")
    assert decisions(server)[-1].action is ScaleAction.RESIZED and decisions(server)[-1].run_id == run.id


def test_the_policys_cooldown_replaces_the_fleets(world, server, hostwinds, monkeypatch):
    monkeypatch.setitem(current_app.config, "MAILFLEET_CAPACITY_MIN_HISTORY_DAYS", 1.0)
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
    world.acme.autoscale = AutoScale.ACT
    db.session.commit()
    warm_for(server, cpu=95, days=1.2, now=now)  # 28.8 hours of samples since the resize
    put_policy(world, cooldown_hours=48)
    hourly_check(now)
    assert "held: resized by run" in decisions(server)[-1].reason
    put_policy(world, cooldown_hours=12)  # the fleet's 24 h would also let it through; 12 is the policy's
    hourly_check(now)
    assert decisions(server)[-1].action is ScaleAction.RESIZED
    assert db.session.scalars(select(Run).where(Run.id != earlier.id)).one().catalogue_key == "resize"


def test_admins_set_it_from_the_api_members_read_it_other_tenants_do_not_see_it(client, world, server,
                                                                                  hostwinds):
    admin, alice, bob = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.admin, world.alice, world.bob)
    )
    path = "/api/v1/tenants/acme/autoscale/policy"
    world.acme.monthly_budget = Decimal("40.00")
    db.session.commit()
    doc = client.get(path, headers=alice).get_json()
    assert (doc["own"], doc["cpu_p95_pct"], doc["max_plan"], doc["budget"]) == (False, 80.0, None, "40.00")
    assert client.get(path, headers=bob).status_code == 404
    assert client.put(path, json={"cpu_p95_pct": 50}, headers=alice).status_code == 403
    assert client.put(path, json={"cpu_p95_pct": 50}, headers=bob).status_code == 404
    refused = client.put(path, json={"max_monthly_spend": "45.00"}, headers=admin)
    assert refused.status_code == 400
    assert "the max monthly spend $45.00 is above acme's $40.00 budget" in refused.get_json()["error"]
    refused = client.put(path, json={"cooldown_hours": -2}, headers=admin)
    assert refused.status_code == 400 and "the cooldown (hours) must be from 0" in refused.get_json()["error"]
    assert stored(world) is None
    answer = client.put(
        path,
        json={
            "cpu_p95_pct": 70,
            "mem_p99_pct": 85.5,
            "max_plan": "103",
            "max_monthly_spend": "35",
            "cooldown_hours": 6,
        },
        headers=admin,
    )
    assert answer.status_code == 200
    assert answer.get_json() == {
        "tenant": "acme",
        "mode": "off",
        "own": True,
        "cpu_p95_pct": 70.0,
        "mem_p99_pct": 85.5,
        "disk_full_days": 30.0,
        "max_plan": "Unmetered SSD VPS 4 GB",
        "max_monthly_spend": "35.00",
        "cooldown_hours": 6.0,
        "budget": "40.00",
    }
    assert client.get(path, headers=alice).get_json()["max_monthly_spend"] == "35.00"
    server_doc = client.get(f"/api/v1/servers/{server.id}/autoscale", headers=alice).get_json()
    assert server_doc["cooldown_hours"] == 6.0
    assert client.delete(path, headers=alice).status_code == 403
    assert client.delete(path, headers=admin).get_json()["own"] is False and stored(world) is None


def post_policy(client, form) -> str:
    answer = client.post("/costs/acme/autoscale/policy", data=form, follow_redirects=True)
    return answer.get_data(as_text=True)


def test_the_costs_page_shows_it_to_members_and_lets_admins_edit_it(client, world, server, hostwinds):
    put_policy(world, cpu_p95_pct=75, max_plan="103")
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "95th percentile CPU above 75 %" in page and "Unmetered SSD VPS 4 GB" in page
    assert 'id="autoscale-policy-form"' not in page
    token = csrf_token(client, "/costs/acme")
    client.post("/costs/acme/autoscale/policy", data={"csrf_token": token, "cpu_p95_pct": "50"})
    assert stored(world).cpu_p95_pct == 75.0
    client.get("/logout")

    assert login(client, world.admin.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/acme").get_data(as_text=True)
    assert 'id="autoscale-policy-form"' in page and 'value="75"' in page
    token = csrf_token(client, "/costs/acme")
    form = {"csrf_token": token, "cpu_p95_pct": "65", "mem_p99_pct": "120", "max_plan": "103"}
    page = post_policy(client, form)
    assert "the memory threshold (99th percentile, %) must be from 1 to 100, not 120" in page
    assert stored(world).cpu_p95_pct == 75.0
    form["mem_p99_pct"] = ""  # the default
    page = post_policy(client, form)
    assert "Auto-scaling policy of acme saved." in page and "95th percentile CPU above 65 %" in page
    assert (stored(world).cpu_p95_pct, stored(world).mem_p99_pct) == (65.0, 90.0)
    page = client.post(
        "/costs/acme/autoscale/policy", data={"csrf_token": token, "reset": "1"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Auto-scaling policy of acme: the defaults." in page and stored(world) is None
