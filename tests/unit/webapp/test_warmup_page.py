"""Warm-up plans on a server's page: a tenant sees and changes only its own servers' plans, bad
tables are refused with the reason and change nothing, a saved plan pushes its caps (the sendcap
run, limited to that server), the run's inventory carries the day's caps dated a week ahead, and the
day's counts (per receiver group) stand against the day's cap on the page and in the API."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import MailCount, Run, Server, ServerStatus, WarmupPlan
from webapp.services import accounts, warmup
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, login

pytestmark = pytest.mark.unit

DAY = date(2026, 12, 2)


def _server(tenant, name: str, ip: str | None = "198.51.100.7") -> Server:
    server = Server(tenant_id=tenant.id, name=name, mail_hostname=f"mail.{tenant.slug}.test",
                    public_ipv4=ip, status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    return server


@pytest.fixture
def servers(world):
    return _server(world.acme, "mf-acme-1"), _server(world.globex, "mf-globex-1", "198.51.100.8")


def _page(slug: str, server: Server) -> str:
    return f"/tenants/{slug}/servers/{server.id}/warmup"


def _post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, url), **data})


def test_member_sets_a_curve_and_sees_todays_caps_and_the_push_run(client, world, servers):
    acme, _ = servers
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert "No warm-up plan" in page
    response = _post(client, _page("acme", acme), curve="standard", table="")
    assert response.status_code == 302
    run = db.session.query(Run).one()
    assert (run.catalogue_key, run.limit, run.tenant_id) == ("sendcap", "mf-acme-1", world.acme.id)
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert '<td id="warmup-day">1</td>' in page
    assert "50 a day, 7 an hour" in page
    assert f"run {run.id}" in page


def test_the_ip_switch_link_names_the_servers_own_provider(client, world, servers):
    acme, _ = servers
    acme.provider = "digitalocean"
    db.session.commit()
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert "DigitalOcean gives the server a new address" in page and "Hostwinds" not in page


def test_another_tenants_server_answers_404_and_keeps_its_plan(client, world, servers):
    acme, globex = servers
    warmup.set_plan(Scope(world.admin), globex.id, "conservative")
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    assert client.get(_page("globex", globex)).status_code == 404
    assert client.get(_page("acme", globex)).status_code == 404  # acme's URL, globex's server
    token = csrf_token(client, _page("acme", acme))
    changed = client.post(_page("acme", globex), data={"csrf_token": token, "curve": "aggressive"})
    assert changed.status_code == 404
    assert client.post(f"{_page('acme', globex)}/remove", data={"csrf_token": token}).status_code == 404
    assert db.session.query(WarmupPlan).one().curve == "conservative"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("1 100\n2 50", "must not decrease"),
        ("1 0", "above 0"),
        ("1 -5", "whole number above 0"),
        ("2 10", "first row must be day 1"),
        ("1 10 20", "exceeds the daily cap"),
        ("1", "write the day, the daily cap"),
        ("", "at least one row"),
    ],
)
def test_a_bad_custom_table_is_refused_with_its_reason_and_changes_nothing(
    client, world, servers, table, message
):
    acme, _ = servers
    warmup.set_plan(Scope(world.admin), acme.id, "standard")
    runs_before = db.session.query(Run).count()
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    response = _post(client, _page("acme", acme), curve="custom", table=table)
    assert response.status_code == 302
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert message in page.replace("&#39;", "'")
    db.session.expire_all()
    assert db.session.query(WarmupPlan).one().curve == "standard"
    assert db.session.query(Run).count() == runs_before


def test_a_custom_table_is_kept_and_shown_as_typed(world, servers):
    acme, _ = servers
    warmup.set_plan(Scope(world.admin), acme.id, "custom", "1, 3\n\n4 40 9\n")
    plan = warmup.plan_of(acme)
    assert plan.steps == [{"day": 1, "daily": 3, "hourly": 1}, {"day": 4, "daily": 40, "hourly": 9}]
    assert warmup.table_text(plan) == "1 3 1\n4 40 9"


def test_cap_table_dates_the_ip_caps_a_week_ahead_and_holds_back_off(world, servers):
    acme, _ = servers
    no_plan = warmup.cap_table(acme, DAY)
    assert no_plan == {"sending_ip": "198.51.100.7", "ip_days": {}, "groups": {}}  # no plan: no cap
    warmup.set_plan(Scope(world.admin), acme.id, "custom", "1 3 3\n3 50 20", started_on=DAY)
    table = warmup.cap_table(acme, DAY)
    assert list(table["ip_days"]) == [(DAY + timedelta(days=n)).isoformat() for n in range(7)]
    assert table["ip_days"][DAY.isoformat()] == {"daily": 3, "hourly": 3}
    assert table["ip_days"]["2026-12-04"] == {"daily": 50, "hourly": 20}
    assert table["ip_days"]["2026-12-05"] == {}  # past the last step: warm
    # Each receiver group: its share of the IP's caps, on its own schedule (Gmail 3 days behind).
    gmail, other = table["groups"]["gmail"], table["groups"]["other"]
    assert "google.com" in gmail["suffixes"] and other["suffixes"] == []
    assert table["local_domains"] == []  # the server's own domains (none here) are not paced
    assert list(table["groups"]) == ["gmail", "microsoft", "yahoo", "apple", "other"]
    assert [gmail["days"][f"2026-12-0{d}"] for d in (4, 6, 7, 8)] == [
        {"daily": 1, "hourly": 1}, {"daily": 1, "hourly": 1}, {"daily": 15, "hourly": 6}, {}
    ]
    assert [other["days"][f"2026-12-0{d}"] for d in (2, 4, 5)] == [
        {"daily": 1, "hourly": 1}, {"daily": 30, "hourly": 12}, {}
    ]
    plan = warmup.plan_of(acme)
    plan.held_days, plan.backoff_until, plan.backoff_factor = 1, DAY + timedelta(days=1), 0.5
    db.session.commit()
    table = warmup.cap_table(acme, DAY)
    assert table["ip_days"][DAY.isoformat()] == {"daily": 1, "hourly": 1}  # held on day 1, halved
    assert table["ip_days"]["2026-12-04"] == {"daily": 3, "hourly": 3}  # day 2 of the plan: one held


def test_the_runs_inventory_carries_each_servers_caps(world, servers):
    from jobs.inventory import tenant_inventory

    acme, _ = servers
    warmup.set_plan(Scope(world.admin), acme.id, "aggressive")
    hosts = tenant_inventory(world.acme)["all"]["children"]["mailfleet_servers"]["hosts"]
    caps = hosts["mf-acme-1"]["mailfleet_sendcaps"]
    assert caps["sending_ip"] == "198.51.100.7"
    assert caps["ip_days"][warmup.today().isoformat()] == {"daily": 200, "hourly": 25}


def test_a_server_without_an_address_keeps_its_plan_without_a_run(world):
    server = _server(world.acme, "mf-acme-2", ip=None)
    assert warmup.set_plan(Scope(world.admin), server.id, "standard") is None
    assert warmup.plan_of(server).curve == "standard"
    assert db.session.query(Run).count() == 0


def _mail(server: Server, domain: str, *local_parts: str) -> None:
    from webapp.models import Domain, DomainStatus, Mailbox

    row = Domain(tenant_id=server.tenant_id, server_id=server.id, name=domain, status=DomainStatus.ACTIVE)
    db.session.add(row)
    db.session.flush()
    for local in local_parts:
        db.session.add(Mailbox(tenant_id=server.tenant_id, domain_id=row.id, local_part=local,
                               email=f"{local}@{domain}"))
    db.session.commit()


def test_domain_and_mailbox_caps_reach_the_cap_table_and_are_pushed(client, world, servers):
    acme, globex = servers
    _mail(acme, "acme.test", "jane", "joe")
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    url = _page("acme", acme)
    typed = "acme.test 500\nJane@acme.test 20 5"
    response = client.post(f"/tenants/acme/servers/{acme.id}/caps",
                           data={"csrf_token": csrf_token(client, url), "caps": typed})
    assert response.status_code == 302
    table = warmup.cap_table(acme, DAY)
    assert table["domains"] == {"acme.test": {"daily": 500}}
    assert table["mailboxes"] == {"jane@acme.test": {"daily": 20, "hourly": 5}}
    assert db.session.query(Run).one().limit == "mf-acme-1"
    assert "jane@acme.test 20 5" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        ("globex.test 10", "globex.test is not a domain on mf-acme-1"),
        ("bob@globex.test 10", "bob@globex.test is not a mailbox on mf-acme-1"),
        ("nobody@acme.test 10", "is not a mailbox"),
        ("acme.test 0", "above 0"),
        ("acme.test -3", "whole number above 0"),
        ("jane@acme.test 5 6", "exceeds the daily cap"),
        ("acme.test 5\nACME.test 6", "has a cap already"),
        ("acme.test", "its daily cap"),
    ],
)
def test_bad_caps_are_refused_with_the_reason_and_change_nothing(client, world, servers, caps, message):
    acme, globex = servers
    _mail(acme, "acme.test", "jane")
    _mail(globex, "globex.test", "bob")
    warmup.set_caps(Scope(world.admin), acme.id, "acme.test 100")
    runs_before = db.session.query(Run).count()
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    url = _page("acme", acme)
    token = csrf_token(client, url)
    client.post(f"/tenants/acme/servers/{acme.id}/caps", data={"csrf_token": token, "caps": caps})
    assert message in client.get(url).get_data(as_text=True).replace("&#39;", "'")
    db.session.expire_all()
    assert warmup.caps_text(acme) == "acme.test 100"
    assert db.session.query(Run).count() == runs_before


def test_the_days_counts_stand_against_the_days_cap_on_the_page_and_in_the_api(client, world, servers):
    acme, globex = servers
    warmup.set_plan(Scope.system(), acme.id, "standard", started_on=warmup.today() - timedelta(days=2))
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    api = f"/api/v1/tenants/acme/servers/{acme.id}/warmup"
    before = client.get(api, headers=alice).get_json()
    assert (before["curve"], before["day"], before["today"]) == ("standard", 3, None)
    cap = before["daily_cap"]
    db.session.add(MailCount(
        server_id=acme.id, day=warmup.today(), sent=41, received=7, deferred=9, bounced=2, rejected=0,
        reputation_deferrals=5, collected_at=utcnow(),
        groups={"gmail": {"sent": 30, "deferred": 8, "bounced": 1, "reputation_deferrals": 5},
                "other": {"sent": 11, "deferred": 1, "bounced": 1, "reputation_deferrals": 0}},
    ))
    db.session.add(MailCount(server_id=acme.id, day=warmup.today() - timedelta(days=1), sent=999,
                             collected_at=utcnow(), groups={}))
    db.session.commit()
    found = client.get(api, headers=alice).get_json()
    assert (found["daily_cap"], found["sending_ip"]) == (cap, "198.51.100.7")
    assert (found["today"]["sent"], found["today"]["reputation_deferrals"]) == (41, 5)
    gmail = {"sent": 30, "deferred": 8, "bounced": 1, "reputation_deferrals": 5}
    assert found["today"]["groups"]["gmail"] == gmail
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    assert client.get(api, headers=bob).status_code == 404
    assert client.get(f"/api/v1/tenants/globex/servers/{acme.id}/warmup", headers=bob).status_code == 404
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert f"41 delivered of today's cap of {cap}" in page and "9 deferred (5 for reputation)" in page
    assert "<td>gmail</td><td>30</td><td>8</td><td>5</td><td>1</td>" in page and "999" not in page
    # Each receiver group's own caps today (standard day 3: Gmail is still on day 1's, x0.3; the
    # rest on day 3's, x0.6) beside what it took.
    assert found["groups"]["gmail"] == {"daily_cap": 15, "hourly_cap": 2}
    other = warmup.status(warmup.plan_of(acme)).groups["other"]
    assert found["groups"]["other"] == {"daily_cap": other.daily, "hourly_cap": other.hourly}
    assert other.daily == int(cap * 0.6)
    assert "<td>gmail</td><td>15 a day, 2 an hour</td><td>30</td><td>5</td>" in page
    assert "<td>yahoo</td><td>" in page


def test_a_server_held_for_a_critical_listing_shows_its_caps_on_the_page_and_in_the_api(
    client, world, servers
):
    from mailfleet.monitoring import CheckResult, Status

    acme, _ = servers
    for days_ago in range(1, 8):
        db.session.add(MailCount(server_id=acme.id, day=warmup.today() - timedelta(days=days_ago),
                                 sent=3_000, collected_at=utcnow()))
    db.session.commit()
    check = "dnsbl:zen.spamhaus.org:198.51.100.7"
    listed = [CheckResult("mf-acme-1", check, Status.ERROR, None, "listed", utcnow(), critical=True)]
    assert warmup.react_to_listings(listed, utcnow()) == ["mf-acme-1"]
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    found = client.get(f"/api/v1/tenants/acme/servers/{acme.id}/warmup", headers=alice).get_json()
    assert (found["curve"], found["daily_cap"], found["hourly_cap"]) == (None, 300, 38)
    hold = found["listing_hold"]
    assert (hold["daily_cap"], hold["usual_daily"], hold["checks"]) == (300, 3_000, [check])
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert "No warm-up plan" not in page
    assert "held to\n      <strong>300 a day, 38 an hour</strong>" in page
    assert "its usual day before the listing was 3000 messages" in page


def test_the_chart_sets_each_days_deliveries_against_the_plans_cap_of_that_day(client, world, servers):
    from webapp.services import mailstats

    acme, _ = servers
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    assert "Nothing to chart yet" in client.get(_page("acme", acme)).get_data(as_text=True)
    today = warmup.today()
    warmup.set_plan(Scope.system(), acme.id, "standard", started_on=today - timedelta(days=2))
    for ago, sent in ((3, 12), (1, 40)):
        db.session.add(MailCount(server_id=acme.id, day=today - timedelta(days=ago), sent=sent,
                                 collected_at=utcnow(), groups={}))
    db.session.commit()
    days = mailstats.recent_days(acme, today)
    assert len(days) == mailstats.CHART_DAYS and days[-1].day == today
    standard = warmup.steps_of(warmup.plan_of(acme))
    assert [(d.sent, d.cap) for d in days[-4:]] == [
        (12, None), (None, standard[0].daily), (40, standard[1].daily), (None, standard[2].daily)
    ]  # no cap before the plan started; no count on a day not counted
    page = client.get(_page("acme", acme)).get_data(as_text=True)
    assert 'id="chart-sent"' in page and 'id="chart-cap"' in page
    assert client.get(_page("acme", servers[1])).status_code == 404
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    api = client.get(f"/api/v1/tenants/acme/servers/{acme.id}/warmup", headers=alice).get_json()
    assert api["days"][-2] == {"day": (today - timedelta(days=1)).isoformat(), "sent": 40,
                               "cap": standard[1].daily}
