"""Costs per tenant on a real database: the price history, month to date and projection, budgets
alerting once per threshold through the health alert engine, and the pages, tenant-scoped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.costs import Period, month_cost
from mailfleet.monitoring import Status, record_results
from webapp.extensions import db
from webapp.models import HealthAlert, MailCount, Role, Server, ServerStatus, SqlHealthStore
from webapp.models.usage import CostPeriod
from webapp.services import accounts, costs, usage
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

NOV = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def fleet(world):
    acme1 = Server(
        tenant_id=world.acme.id,
        name="mf-acme-1",
        plan="SSD 2 GB",
        monthly_price=Decimal("30.00"),
        status=ServerStatus.ACTIVE,
        created_at=NOV - timedelta(days=60),
    )
    globex1 = Server(
        tenant_id=world.globex.id,
        name="mf-globex-1",
        plan="SSD 1 GB",
        monthly_price=Decimal("9.00"),
        status=ServerStatus.ACTIVE,
        created_at=NOV + timedelta(days=15),
    )
    stray = Server(name="stray-vps", plan="SSD 1 GB", monthly_price=Decimal("6.00"), created_at=NOV)
    db.session.add_all([acme1, globex1, stray])
    db.session.commit()
    return acme1, globex1, stray


def test_a_resize_ends_one_period_and_starts_the_next_and_nothing_is_overwritten(world, fleet):
    acme1, _, _ = fleet
    assert costs.sync_periods(NOV + timedelta(days=1)) == 3
    assert costs.sync_periods(NOV + timedelta(days=2)) == 0  # nothing changed
    acme1.plan, acme1.monthly_price = "SSD 4 GB", Decimal("60.00")
    assert costs.sync_periods(NOV + timedelta(days=10)) == 2
    periods = db.session.scalars(
        select(CostPeriod).where(CostPeriod.server_id == acme1.id).order_by(CostPeriod.id)
    ).all()
    assert [(p.plan, p.monthly_price, p.started_at, p.ended_at) for p in periods] == [
        ("SSD 2 GB", Decimal("30.00"), NOV - timedelta(days=60), NOV + timedelta(days=10)),
        ("SSD 4 GB", Decimal("60.00"), NOV + timedelta(days=10), None),
    ]
    found = costs.tenant_cost(world.acme, NOV + timedelta(days=15))
    assert found.month.to_date == Decimal("20.00")  # 10 days at 30, 5 days at 60
    assert found.month.projected == Decimal("50.00")
    assert found.history[-2:] == [
        (datetime(2026, 10, 1, tzinfo=UTC), Decimal("30.00")),
        (NOV, Decimal("20.00")),
    ]


def test_a_deprovisioned_server_stops_costing_from_then(world, fleet):
    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    acme1.status = ServerStatus.GONE
    costs.sync_periods(NOV + timedelta(days=6))
    found = costs.tenant_cost(world.acme, NOV + timedelta(days=20))
    assert (found.month.to_date, found.month.projected, found.month.run_rate) == (
        Decimal("6.00"),
        Decimal("6.00"),
        Decimal("0.00"),
    )
    assert found.servers[0].monthly_price is None


def test_a_new_server_costs_from_its_order_before_the_sampler_has_seen_it(world, fleet):
    found = costs.tenant_cost(world.globex, NOV + timedelta(days=20))  # no sync_periods yet
    assert [s.name for s in found.servers] == ["mf-globex-1"]
    assert found.month.to_date == Decimal("1.50") and found.month.projected == Decimal("4.50")


def test_allocation_sums_to_the_fleet_cost_and_only_admins_see_unassigned(world, fleet):
    now = NOV + timedelta(days=20)
    costs.sync_periods(NOV + timedelta(days=16))
    admin_rows = costs.costs_for(Scope(world.admin), now)
    assert [r.slug for r in admin_rows] == ["acme", "globex", "unassigned"]
    # 20 of 30 days at 30, 5 days at 9, 20 days at 6 (unassigned): every dollar lands on one line.
    assert [r.month.to_date for r in admin_rows] == [Decimal("20.00"), Decimal("1.50"), Decimal("4.00")]
    every_period = [(s.monthly_price, s.created_at) for s in fleet]
    fleet_total = month_cost([Period(p, start, None) for p, start in every_period], now).to_date
    assert sum((r.month.to_date for r in admin_rows), Decimal(0)) == fleet_total
    assert [r.slug for r in costs.costs_for(Scope(world.alice), now)] == ["acme"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "more than 0"),
        ("-5", "more than 0"),
        ("ten", "amount in dollars"),
        ("12.345", "two decimals"),
        ("NaN", "more than 0"),
        ("100000000", "more than 0"),
    ],
)
def test_bad_budgets_are_refused_and_change_nothing(world, raw, message):
    world.acme.monthly_budget = Decimal("50.00")
    db.session.commit()
    with pytest.raises(Exception, match=message):
        costs.set_budget(Scope(world.admin), world.acme, raw)
    db.session.rollback()
    assert db.session.get(type(world.acme), world.acme.id).monthly_budget == Decimal("50.00")


def test_members_cannot_set_budgets(world):
    with pytest.raises(Exception, match="only administrators"):
        costs.set_budget(Scope(world.alice), world.acme, "100")


def _record(now):
    return record_results(SqlHealthStore(), costs.budget_results(now), costs.BUDGET_POLICY)


def test_budget_thresholds_alert_once_each_per_month(world, fleet):
    world.acme.monthly_budget = Decimal("40.00")  # acme runs 30 a month
    db.session.commit()
    costs.sync_periods(NOV)
    early = _record(NOV + timedelta(days=3))  # 3 spent, 30 projected: nothing
    assert early == []
    mid = _record(NOV + timedelta(days=21))  # 21 spent (52 %): the 50 % threshold
    assert [n.alert.check for n in mid] == ["budget:acme:50"]
    assert _record(NOV + timedelta(days=21, hours=1)) == []  # no repeat
    world.acme.monthly_budget = Decimal("25.00")
    db.session.commit()
    late = _record(NOV + timedelta(days=26))  # 26 of 25: 80 %, 100 % and the forecast at once
    assert sorted(n.alert.check for n in late) == [
        "budget:acme:100",
        "budget:acme:80",
        "budget:acme:forecast",
    ]
    severities = {a.check: a.severity for a in db.session.scalars(select(HealthAlert))}
    assert severities["budget:acme:100"] == "critical" and severities["budget:acme:50"] == "warning"
    # An hour on: nothing opens again; the unacknowledged critical one escalates, as every alert does.
    assert [(n.kind, n.alert.check) for n in _record(NOV + timedelta(days=27))] == [
        ("escalated", "budget:acme:100")
    ]
    december = _record(datetime(2026, 12, 1, 1, tzinfo=UTC))  # spend starts from zero again
    assert {n.alert.check for n in december} == {
        "budget:acme:50",
        "budget:acme:80",
        "budget:acme:100",
    }  # resolved; the forecast (30 > 25) stays open
    assert all(n.kind == "resolved" for n in december)


def test_costs_pages_are_tenant_scoped(client, world, fleet):
    costs.sync_periods(NOV + timedelta(days=16))
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    assert client.get("/costs/").headers["Location"].endswith("/costs/acme")
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "mf-acme-1" in page and "mf-globex-1" not in page and "stray-vps" not in page
    assert client.get("/costs/globex").status_code == 404
    assert "Save budget" not in page
    token = csrf_token(client, "/costs/acme")
    assert client.post("/costs/acme/budget", data={"csrf_token": token, "budget": "1"}).status_code == 302
    assert world.acme.monthly_budget is None


def test_admin_sets_a_budget_and_sees_every_tenant(client, world, fleet):
    assert login(client, world.admin.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/").get_data(as_text=True)
    for name in ("acme", "globex", "unassigned"):
        assert name in page
    token = csrf_token(client, "/costs/acme")
    response = client.post("/costs/acme/budget", data={"csrf_token": token, "budget": "$1,250.50"})
    assert response.status_code == 302
    assert db.session.get(type(world.acme), world.acme.id).monthly_budget == Decimal("1250.50")
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "of the $1250.50 budget" in page
    bad = client.post("/costs/acme/budget", data={"csrf_token": token, "budget": "0"}, follow_redirects=True)
    assert "more than 0" in bad.get_data(as_text=True)


def test_a_mailbox_manager_sees_its_tenants_costs_only(client, world, fleet):
    manager = accounts.add_member(
        Scope(world.admin), world.globex, "mm@globex.example", TEST_PASSWORD, Role.MAILBOX_MANAGER
    )
    assert login(client, manager.email, TEST_PASSWORD).status_code == 302
    assert "mf-globex-1" in client.get("/costs/globex").get_data(as_text=True)
    assert client.get("/costs/acme").status_code == 404


def test_costs_pages_chart_disk_in_use_of_the_fleet_and_of_the_tenant(client, world, fleet):
    from webapp.models.usage import FIVE_MINUTES, UsageSample

    acme1, globex1, _ = fleet
    ts = int(utcnow().timestamp()) // 86400 * 86400 - 86400  # yesterday's daily row
    for server, used in ((acme1, 2048), (globex1, 1024)):
        figures = {"disk_used_mb": used, "cpu_pct": used // 64, "mailboxes": used // 256}
        db.session.add(UsageSample(server_id=server.id, step=86400, ts=ts, samples=288, **figures))
        db.session.add(UsageSample(server_id=server.id, step=3600, ts=ts, samples=12, **figures))
    db.session.add(UsageSample(server_id=acme1.id, step=FIVE_MINUTES, ts=ts, samples=1, disk_used_mb=9))
    for step in (FIVE_MINUTES, 3600, 86400):  # summed as the sampler and the rollups do
        usage.build_totals(step, ts, ts + step)
    db.session.commit()
    assert login(client, world.admin.email, TEST_PASSWORD).status_code == 302
    fleet = client.get("/costs/").get_data(as_text=True)
    assert "now 3.0 GB over the fleet" in fleet
    assert "CPU, average per server, last 90 days <small>now 24 % over the fleet" in fleet  # (32 + 16) / 2
    acme = client.get("/costs/acme").get_data(as_text=True)
    assert "now 2.0 GB over its servers" in acme
    assert "Mailboxes, last 30 days <small>now 8 over its servers" in acme


def test_the_api_exports_each_tenants_month_servers_and_history(client, world, fleet):
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    admin = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    page = client.get("/api/v1/costs", headers=admin).get_json()
    assert [t["tenant"] for t in page["tenants"]] == ["acme", "globex", "unassigned"]
    globex = client.get("/api/v1/tenants/globex/costs", headers=bob).get_json()
    expected = costs.tenant_cost(world.globex, utcnow())
    assert globex["month"]["run_rate"] == str(expected.month.run_rate)
    assert [s["name"] for s in globex["servers"]] == ["mf-globex-1"]
    assert globex["servers"][0]["monthly_price"] == str(expected.servers[0].monthly_price)
    assert (
        len(globex["history"]) == len(expected.history)
        and globex["history"][-1]["month"] == f"{utcnow():%Y-%m}"
    )
    assert [t["tenant"] for t in client.get("/api/v1/costs", headers=bob).get_json()["tenants"]] == ["globex"]
    assert client.get("/api/v1/tenants/acme/costs", headers=bob).status_code == 404


def test_the_fleets_budget_counts_every_server_and_alerts_like_a_tenants(app, world, fleet):
    costs.sync_periods(NOV)
    now = NOV + timedelta(days=21)
    assert costs.budget_results(now) == []  # no budget anywhere
    app.config["MAILFLEET_FLEET_BUDGET"] = 50.0
    month = costs.fleet_cost(costs.costs_for(Scope.system(), now), now).month
    tenants = [t.month.to_date for t in costs.costs_for(Scope(world.admin), now)]
    assert month.to_date == sum(tenants) and len(tenants) == 3  # acme, globex and the unassigned server
    results = {r.check: r for r in costs.budget_results(now)}
    assert set(results) == {f"budget:(fleet):{key}" for key in ("50", "80", "100", "forecast")}
    assert results["budget:(fleet):50"].status is Status.WARNING
    assert results["budget:(fleet):80"].status is Status.OK
    assert f"${month.to_date} spent this month" in results["budget:(fleet):50"].detail


def test_a_fleet_budget_of_zero_is_refused_at_start(tmp_path):
    from webapp.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="MAILFLEET_FLEET_BUDGET"):
        load_config({"MAILFLEET_DATA_DIR": str(tmp_path), "MAILFLEET_FLEET_BUDGET": "0"})


@pytest.mark.parametrize(
    "name",
    [
        "MAILFLEET_PRICE_BACKUP_GB",
        "MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB",
        "MAILFLEET_PRICE_NEW_IP",
        "MAILFLEET_PRICE_EXTRA_IP",
    ],
)
def test_a_negative_extra_price_is_refused_at_start_and_zero_is_free(tmp_path, name):
    from webapp.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=f"{name}=-0.5 must be at least 0"):
        load_config({"MAILFLEET_DATA_DIR": str(tmp_path), name: "-0.5"})
    assert load_config({"MAILFLEET_DATA_DIR": str(tmp_path), name: "0"})[name] == 0


def _sent(server, day, sent):
    db.session.add(MailCount(server_id=server.id, day=day, sent=sent, collected_at=NOV))


def test_cost_per_thousand_messages_sent_counts_this_months_mail_per_server_tenant_and_fleet(
    app, world, fleet
):
    acme1, globex1, _ = fleet
    now = NOV + timedelta(days=20)
    costs.sync_periods(NOV + timedelta(days=16))
    _sent(acme1, (NOV - timedelta(days=1)).date(), 90000)  # October's: not this month's
    _sent(acme1, NOV.date(), 3000)
    _sent(acme1, (NOV + timedelta(days=19)).date(), 5000)
    _sent(globex1, (NOV + timedelta(days=18)).date(), 0)
    db.session.commit()
    acme = costs.tenant_cost(world.acme, now)
    assert (acme.sent, acme.month.to_date, acme.per_thousand) == (8000, Decimal("20.00"), Decimal("2.50"))
    assert [(s.name, s.sent, s.per_thousand) for s in acme.servers] == [("mf-acme-1", 8000, Decimal("2.50"))]
    globex = costs.tenant_cost(world.globex, now)
    assert (globex.sent, globex.per_thousand) == (0, None)  # nothing sent: no price per message
    app.config["MAILFLEET_FLEET_BUDGET"] = 40.0
    fleet_line = costs.fleet_cost(costs.costs_for(Scope(world.admin), now), now)
    assert fleet_line.month.to_date == Decimal("25.50") and fleet_line.sent == 8000
    assert fleet_line.per_thousand == Decimal("3.19")  # 25.50 / 8
    assert (fleet_line.budget, fleet_line.used_pct) == (Decimal("40.00"), Decimal("63.8"))


def test_the_costs_pages_show_messages_sent_the_price_per_thousand_and_the_fleets_budget_line(
    app, client, world, fleet
):
    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    _sent(acme1, utcnow().date(), 1234)
    db.session.commit()
    app.config["MAILFLEET_FLEET_BUDGET"] = 1000.0
    assert login(client, world.admin.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/").get_data(as_text=True)
    fleet_line = page[page.index('id="fleet-line"') :]
    fleet_line = fleet_line[: fleet_line.index("</tr>")]
    expected = costs.fleet_cost(costs.costs_for(Scope(world.admin), utcnow()), utcnow())
    assert f"${expected.month.to_date}" in fleet_line and "$1000.00" in fleet_line
    assert f"{expected.used_pct} %" in fleet_line and "<td>1234</td>" in fleet_line
    acme = client.get("/costs/acme").get_data(as_text=True)
    per_thousand = costs.tenant_cost(world.acme, utcnow()).per_thousand
    assert f"${per_thousand}</span><span>per 1,000 of the 1234 messages sent" in acme


def test_the_api_exports_costs_as_json_and_csv_and_a_tenant_never_sees_another(client, world, fleet):
    acme1, globex1, _ = fleet
    costs.sync_periods(NOV)
    _sent(acme1, utcnow().date(), 4000)
    _sent(globex1, utcnow().date(), 10)
    db.session.commit()
    admin, alice, bob = (
        {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}
        for user in (world.admin, world.alice, world.bob)
    )
    acme = client.get("/api/v1/tenants/acme/costs", headers=alice).get_json()
    assert acme["sent"] == 4000 and acme["servers"][0]["sent"] == 4000
    assert acme["per_thousand"] == str(costs.tenant_cost(world.acme, utcnow()).per_thousand)
    assert client.get("/api/v1/costs", headers=alice).get_json()["fleet"] is None  # the fleet: admins
    fleet_json = client.get("/api/v1/costs", headers=admin).get_json()["fleet"]
    assert fleet_json["sent"] == 4010 and fleet_json["budget"] is None
    answer = client.get("/api/v1/costs?format=csv", headers=admin)
    assert answer.mimetype == "text/csv" and "fleet-costs-" in answer.headers["Content-Disposition"]
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[0] == "tenant,server,plan,monthly_price,month_to_date,projected,sent,per_thousand"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["acme", "mf-acme-1"],
        ["globex", "mf-globex-1"],
        ["unassigned", "stray-vps"],
    ]
    own = client.get("/api/v1/costs?format=csv", headers=bob).get_data(as_text=True)
    assert "mf-globex-1" in own and "acme" not in own and "stray-vps" not in own
    assert client.get("/api/v1/tenants/acme/costs?format=csv", headers=bob).status_code == 404
    one = client.get("/api/v1/tenants/acme/costs?format=csv", headers=alice).get_data(as_text=True)
    [row] = [line.split(",") for line in one.splitlines()[1:]]
    per_thousand = str(costs.tenant_cost(world.acme, utcnow()).per_thousand)
    assert row[:4] == ["acme", "mf-acme-1", "SSD 2 GB", "30.00"] and row[6:] == ["4000", per_thousand]
    assert client.get("/api/v1/costs?format=xml", headers=alice).status_code == 422


GIB = 1024**3


def _extras(app, acme1, when):
    """Prices for the extras, acme's backup repository at 200 GB, and its server at 1,200 GB used
    of a 1,000 GB allowance in a sample just before `when`."""
    from webapp.models.backups import ServerBackup
    from webapp.models.usage import FIVE_MINUTES, UsageSample

    app.config["MAILFLEET_PRICE_BACKUP_GB"] = 0.10
    app.config["MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB"] = 0.50
    ts = (int(when.timestamp()) - 60) // FIVE_MINUTES * FIVE_MINUTES
    db.session.add_all(
        [
            ServerBackup(
                server_id=acme1.id, collected_at=when, status={"repository": {"repository_bytes": 200 * GIB}}
            ),
            UsageSample(server_id=acme1.id, step=FIVE_MINUTES, ts=ts, bw_used_gb=1200, bw_total_gb=1000),
        ]
    )
    db.session.commit()


def test_extras_are_priced_into_the_month_its_projection_and_the_budget(app, world, fleet):
    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    now = NOV + timedelta(days=15)  # half of November
    plain = costs.tenant_cost(world.acme, now)
    assert (plain.month.to_date, plain.month.projected) == (Decimal("15.00"), Decimal("30.00"))
    assert plain.extras == []
    _extras(app, acme1, now)
    found = costs.tenant_cost(world.acme, now)
    backup, bandwidth = found.extras
    assert (backup.what, backup.server, backup.quantity) == ("backup storage", None, Decimal("200.00"))
    # 200 GB at $0.10: $20 a month, half of it so far.
    assert (backup.month.to_date, backup.month.projected) == (Decimal("10.00"), Decimal("20.00"))
    assert (bandwidth.server, bandwidth.quantity) == ("mf-acme-1", Decimal("200"))
    # 200 GB over so far at $0.50; at this pace 2,400 GB by month end, 1,400 over.
    assert (bandwidth.month.to_date, bandwidth.month.projected) == (Decimal("100.00"), Decimal("700.00"))
    assert "1200 of 1000 GB used this month" in bandwidth.detail
    assert (found.month.to_date, found.month.projected) == (Decimal("125.00"), Decimal("750.00"))
    assert found.history[-1] == (NOV, Decimal("125.00"))
    assert costs.tenant_cost(world.globex, now).extras == []  # globex has neither
    # The fleet's line and the budgets count them as the tenant's month does.
    fleet_month = costs.fleet_cost(costs.costs_for(Scope.system(), now), now).month
    assert fleet_month.projected == sum(t.month.projected for t in costs.costs_for(Scope.system(), now))
    world.acme.monthly_budget = Decimal("500.00")
    db.session.commit()
    results = {r.check: r for r in costs.budget_results(now)}
    assert results["budget:acme:forecast"].status is Status.WARNING  # 750 projected, only with extras
    assert results["budget:acme:50"].status is Status.OK  # 125 spent
    # No price set: the extra is not priced.
    app.config["MAILFLEET_PRICE_BANDWIDTH_OVERAGE_GB"] = None
    assert [e.what for e in costs.tenant_cost(world.acme, now).extras] == ["backup storage"]


def test_new_ip_addresses_are_charged_once_in_the_month_they_come_and_count_in_the_budget(
    app, client, world, fleet
):
    from webapp.models import IpChange

    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    now = NOV + timedelta(days=15)
    db.session.add_all(
        [
            IpChange(
                server_id=acme1.id,
                old_ip="198.51.100.5",
                new_ip="198.51.100.6",
                changed_at=NOV - timedelta(days=2),
            ),
            IpChange(
                server_id=acme1.id,
                old_ip="198.51.100.6",
                new_ip="198.51.100.7",
                changed_at=NOV + timedelta(days=3),
            ),
            IpChange(
                server_id=acme1.id,
                old_ip="198.51.100.7",
                new_ip="198.51.100.8",
                changed_at=NOV + timedelta(days=9),
            ),
        ]
    )
    db.session.commit()
    assert costs.tenant_cost(world.acme, now).extras == []  # no price set: not priced
    app.config["MAILFLEET_PRICE_NEW_IP"] = 4.0
    found = costs.tenant_cost(world.acme, now)
    [new_ips] = found.extras
    assert (new_ips.what, new_ips.server, new_ips.quantity) == ("new IP addresses", "mf-acme-1", Decimal(2))
    assert "198.51.100.7, 198.51.100.8" in new_ips.detail and "198.51.100.6" not in new_ips.detail
    # Charged once: all of it to date and in the projection, nothing added to the run rate.
    assert (new_ips.month.to_date, new_ips.month.projected) == (Decimal("8.00"), Decimal("8.00"))
    assert (found.month.to_date, found.month.projected) == (Decimal("23.00"), Decimal("38.00"))
    assert found.history[-1] == (NOV, Decimal("23.00"))
    assert costs.tenant_cost(world.globex, now).extras == []
    world.acme.monthly_budget = Decimal("40.00")
    db.session.commit()
    results = {r.check: r for r in costs.budget_results(now)}
    assert results["budget:acme:50"].status is Status.WARNING  # 23 of 40: only with the new addresses
    assert results["budget:acme:80"].status is Status.OK
    # The tenant's costs page (this month, by the real clock) lists the extra.
    db.session.add(
        IpChange(server_id=acme1.id, old_ip="198.51.100.8", new_ip="198.51.100.9", changed_at=utcnow())
    )
    db.session.commit()
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/acme").get_data(as_text=True)
    extras = page[page.index('id="extras"') :]
    assert "new IP addresses" in extras and "moved to 198.51.100.9 this month, at $4.0 each" in extras


def test_a_server_on_pace_under_its_allowance_costs_no_overage(app, world, fleet):
    from webapp.models.usage import FIVE_MINUTES, UsageSample

    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    now = NOV + timedelta(days=15)
    _extras(app, acme1, now)
    db.session.query(UsageSample).delete()
    ts = (int(now.timestamp()) - 60) // FIVE_MINUTES * FIVE_MINUTES
    db.session.add(UsageSample(server_id=acme1.id, step=FIVE_MINUTES, ts=ts, bw_used_gb=400, bw_total_gb=999))
    db.session.commit()
    assert [e.what for e in costs.tenant_cost(world.acme, now).extras] == ["backup storage"]
    db.session.query(UsageSample).delete()
    db.session.add(UsageSample(server_id=acme1.id, step=FIVE_MINUTES, ts=ts, bw_used_gb=600, bw_total_gb=999))
    db.session.commit()
    [_, pace] = costs.tenant_cost(world.acme, now).extras  # 1,200 GB at this pace: 201 over
    assert (pace.quantity, pace.month.to_date) == (Decimal(0), Decimal("0.00"))
    assert pace.month.projected == Decimal("100.50")


def test_the_costs_page_api_and_csv_show_the_extras(app, client, world, fleet):
    acme1, _, _ = fleet
    costs.sync_periods(NOV)
    now = utcnow()
    _extras(app, acme1, now)
    expected = costs.tenant_cost(world.acme, now)
    assert [e.what for e in expected.extras] == ["backup storage", "bandwidth over the allowance"]
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "Extras this month" in page and "200.00 GB in the backup repository at $0.1 a GB a month" in page
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    answer = client.get("/api/v1/tenants/acme/costs", headers=alice).get_json()
    assert [(e["what"], e["server"], e["quantity"]) for e in answer["extras"]] == [
        ("backup storage", None, "200.00"),
        ("bandwidth over the allowance", "mf-acme-1", "200"),
    ]
    assert answer["extras"][0]["unit_price"] == "0.1"
    # The month is its servers' and its extras' (the projection moves with the clock between calls).
    for figure in ("to_date", "projected"):
        parts = [Decimal(line["month"][figure]) for line in (*answer["servers"], *answer["extras"])]
        assert Decimal(answer["month"][figure]) == sum(parts) > Decimal(answer["servers"][0]["month"][figure])
    rows = client.get("/api/v1/tenants/acme/costs?format=csv", headers=alice).get_data(as_text=True)
    lines = [line.split(",") for line in rows.splitlines()[1:]]
    assert [row[2] for row in lines] == [
        "SSD 2 GB",
        "extra: backup storage",
        "extra: bandwidth over the allowance",
    ]
    assert all(Decimal(row[5]) > 0 for row in lines)
