"""Switching a server to a new main IP on a real database and the Hostwinds double: the confirmed
action in the UI and the API, what the finished run changes (the provider's new address recorded
with the old one, the warm-up back at day 1, the caps pushed and the domain run that republishes A
and SPF), the same change seen first by the inventory refresh recorded once, and the refusals that
change nothing."""

from __future__ import annotations

import html
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp.errors import Conflict, Forbidden
from webapp.extensions import db
from webapp.models import IpChange, Run, Server, ServerStatus
from webapp.services import accounts, costs, ipswitch, warmup
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, csrf_token, end_run, login

pytestmark = pytest.mark.unit

NEW_IP = "198.19.250.9"


@pytest.fixture
def server(world, hostwinds):
    hostwinds.seed(1, tenants=1)
    (record,) = hostwinds.instances.values()
    record["srvrname"] = "mf-acme-1"
    found = Server(
        tenant_id=world.acme.id, name="mf-acme-1", mail_hostname="mail.acme.test",
        provider_id=record["serviceid"], public_ipv4=record["main_ip"], status=ServerStatus.ACTIVE,
    )
    db.session.add(found)
    db.session.commit()
    warmup.set_plan(Scope.system(), found.id, "standard", started_on=warmup.today() - timedelta(days=12))
    db.session.query(Run).delete()
    db.session.commit()
    return found


def _bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def _runs() -> list[Run]:
    return list(db.session.scalars(select(Run).order_by(Run.id)))


def _finish(hostwinds, run: Run) -> None:
    """The run did its work at the provider and ended well; the worker notes it."""
    (record,) = hostwinds.instances.values()
    record["main_ip"] = NEW_IP
    end_run(run)
    db.session.expire_all()


def test_a_confirmed_switch_moves_the_server_and_keeps_both_addresses(client, world, server, hostwinds):
    old = server.public_ipv4
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/tenants/acme/servers/{server.id}/warmup").get_data(as_text=True)
    assert "Switch to a new IP" in page
    url = f"/tenants/acme/servers/{server.id}/switch-ip"
    confirm = client.get(url).get_data(as_text=True)
    assert f"leaves {old} for a new address" in confirm and "day 1" in confirm
    form = {"csrf_token": csrf_token(client, url), "confirm": "mf-acme-2", "submission_key": "switch-1"}
    wrong = client.post(url, data=form, follow_redirects=True).get_data(as_text=True)
    assert "type mf-acme-1 to confirm" in wrong and _runs() == []
    response = client.post(url, data={**form, "confirm": "mf-acme-1"})
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    [run] = _runs()
    assert (run.catalogue_key, run.playbook) == ("switch_ip", "switch_ip.yml")
    assert run.extravars == {"mailfleet_tenant": "acme", "mailfleet_provider": "hostwinds", "server_index": 1,
                             "switch_ip_from": old,
                             "mail_hostname": "mail.acme.test"}
    again = client.post(url, data={**form, "confirm": "mf-acme-1", "submission_key": "switch-2"},
                        follow_redirects=True)
    assert "already switching" in again.get_data(as_text=True) and len(_runs()) == 1

    _finish(hostwinds, run)
    server = db.session.get(Server, server.id)
    assert server.public_ipv4 == NEW_IP
    [change] = ipswitch.history(server)
    assert (change.old_ip, change.new_ip, change.run_id) == (old, NEW_IP, run.id)
    assert warmup.status(warmup.plan_of(server)).day == 1
    assert warmup.cap_table(server)["sending_ip"] == NEW_IP
    followers = [(r.catalogue_key, r.limit) for r in _runs()[1:]]
    assert followers == [("sendcap", "mf-acme-1"), ("domain", "mf-acme-1")]
    page = client.get(f"/tenants/acme/servers/{server.id}/warmup").get_data(as_text=True)
    assert old in page and NEW_IP in page and f"/runs/{run.id}" in page


def test_the_confirmation_shows_what_the_addresses_cost_and_the_costs_show_the_kept_one(
    app, client, world, server, hostwinds
):
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    url = f"/tenants/acme/servers/{server.id}/switch-ip"
    assert "$" not in client.get(url).get_data(as_text=True)  # unpriced: nothing said
    app.config["MAILFLEET_PRICE_NEW_IP"] = 2.5
    app.config["MAILFLEET_PRICE_EXTRA_IP"] = 3.5
    confirm = client.get(url).get_data(as_text=True)
    assert "the new address costs $2.5 once, counted in this month&#39;s costs and budget" in confirm
    kept = f"Hostwinds keeps {server.public_ipv4} on the server beside the new address: +$3.5 a month"
    assert kept in confirm
    form = {"csrf_token": csrf_token(client, url), "confirm": "mf-acme-1", "submission_key": "switch-1"}
    assert client.post(url, data=form).status_code == 302
    [run] = _runs()
    assert run.extravars["switch_ip_price"] == "2.5"  # the run records what was confirmed
    assert run.extravars["switch_ip_monthly_change"] == "3.5"
    db.session.get(Server, server.id).monthly_price = Decimal("4.99")  # a server that costs money
    _finish(hostwinds, run)
    extras = {e.what: e for e in costs.tenant_cost(world.acme, utcnow()).extras}
    line = extras["IP addresses beside the main one"]
    assert (line.server, line.quantity, line.month.run_rate) == ("mf-acme-1", 1, Decimal("3.50"))
    assert extras["new IP addresses"].month.to_date == Decimal("2.50")
    page = client.get("/costs/acme").get_data(as_text=True)
    assert "1 IPv4 address(es) beside the main one, at $3.5 a month each" in page
    answer = client.get("/api/v1/tenants/acme/costs", headers=_bearer(world.alice)).get_json()
    [found] = [e for e in answer["extras"] if e["what"] == "IP addresses beside the main one"]
    assert (found["server"], found["quantity"], found["month"]["run_rate"]) == ("mf-acme-1", "1", "3.50")


def test_a_switch_past_the_spending_limit_or_the_budget_is_refused_and_changes_nothing(
    app, world, server, hostwinds
):
    scope, old = Scope(world.alice), server.public_ipv4
    app.config["MAILFLEET_PRICE_EXTRA_IP"] = 3.5  # the old address, kept, costs this a month
    world.acme.max_monthly_spend = Decimal("3.00")
    db.session.commit()
    limit = "may spend at most 3.00 a month; its servers cost 0.00 and this change 3.50 more"
    with pytest.raises(Forbidden, match=limit):
        ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1")
    world.acme.max_monthly_spend, world.acme.monthly_budget = None, Decimal("3.00")
    db.session.commit()
    with pytest.raises(Forbidden, match=r"run rate from \$0.00 to \$3.50 a month, past its \$3.00 budget"):
        ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1")
    app.config["MAILFLEET_PRICE_EXTRA_IP"], app.config["MAILFLEET_PRICE_NEW_IP"] = None, 4
    with pytest.raises(Forbidden, match=r"projected at \$0.00, to \$4.00, past its \$3.00 budget"):
        ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1")
    assert _runs() == [] and db.session.get(Server, server.id).public_ipv4 == old
    world.acme.monthly_budget = Decimal("4.00")
    db.session.commit()
    assert ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1").catalogue_key == "switch_ip"


def test_the_api_switches_and_lists_the_addresses_of_the_tenants_own_servers(
    client, world, server, hostwinds
):
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    path = f"/api/v1/tenants/acme/servers/{server.id}"
    assert client.post(f"{path}/switch-ip", json={"confirm": "mf-acme-1"}, headers=bob).status_code == 404
    assert client.get(f"{path}/addresses", headers=bob).status_code == 404
    other_path = f"/api/v1/tenants/globex/servers/{server.id}/switch-ip"
    other = client.post(other_path, json={"confirm": "mf-acme-1"}, headers=bob)
    assert other.status_code == 404 and _runs() == []
    refused = client.post(f"{path}/switch-ip", json={}, headers=alice)
    assert refused.status_code == 400 and "type mf-acme-1 to confirm" in refused.get_json()["error"]
    started = client.post(f"{path}/switch-ip", json={"confirm": "mf-acme-1"}, headers=alice)
    assert started.status_code == 202 and started.get_json()["playbook"] == "switch_ip.yml"
    _finish(hostwinds, db.session.get(Run, started.get_json()["id"]))
    [entry] = client.get(f"{path}/addresses", headers=alice).get_json()
    assert entry["new_ip"] == NEW_IP and entry["run_id"] == started.get_json()["id"]


def test_a_server_without_a_provider_id_or_address_is_refused_clearly(client, world, server):
    scope = Scope(world.alice)
    server.provider_id = None
    db.session.commit()
    with pytest.raises(Exception, match="has no provider id"):
        ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1")
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/tenants/acme/servers/{server.id}/switch-ip", follow_redirects=True)
    assert "has no provider id" in page.get_data(as_text=True)
    server.provider_id, server.status = 77, ServerStatus.STOPPED
    db.session.commit()
    with pytest.raises(Exception, match="only an active server"):
        ipswitch.switch_ip(scope, world.acme, server.id, "mf-acme-1")
    assert _runs() == [] and db.session.get(Server, server.id).public_ipv4 is not None


def test_a_digitalocean_server_is_refused_before_anything_is_queued_saying_why(client, world, server):
    server.provider = "digitalocean"
    db.session.commit()
    with pytest.raises(Exception, match="keeps a droplet's public IPv4 .* replace the server"):
        ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/tenants/acme/servers/{server.id}/switch-ip", follow_redirects=True)
    assert "cannot get a new IP here: DigitalOcean keeps" in html.unescape(page.get_data(as_text=True))
    assert _runs() == []


def test_a_change_seen_first_by_the_inventory_refresh_is_recorded_and_acted_on_once(world, server, hostwinds):
    from jobs.servers import apply_inventory
    from mailfleet.hostwinds.instances import inventory_record
    from mailfleet.providers.hostwinds import server_record

    old = server.public_ipv4
    run = ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    instance = {"serviceid": server.provider_id, "srvrname": "mf-acme-1", "status": "ACTIVE",
                "main_ip": NEW_IP}
    apply_inventory([server_record(inventory_record(instance, [], {}))], "hostwinds")
    _finish(hostwinds, run)
    [change] = db.session.scalars(select(IpChange)).all()
    assert (change.old_ip, change.new_ip, change.run_id) == (old, NEW_IP, run.id)
    assert [r.catalogue_key for r in _runs()] == ["switch_ip", "sendcap", "domain"]


def test_a_second_switch_within_the_cooldown_is_refused_naming_when_the_next_is_allowed(
    client, world, server, hostwinds
):
    first = ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    _finish(hostwinds, first)
    [change] = ipswitch.history(db.session.get(Server, server.id))
    allowed = change.changed_at + timedelta(hours=24)
    before = len(_runs())
    with pytest.raises(Conflict, match=f"next IP switch is allowed after {allowed:%Y-%m-%d %H:%M} UTC"):
        ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    with pytest.raises(Forbidden, match="only administrators"):
        ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1", override_cooldown=True)
    path = f"/api/v1/tenants/acme/servers/{server.id}/switch-ip"
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    refused = client.post(path, json={"confirm": "mf-acme-1"}, headers=alice)
    assert refused.status_code == 409 and f"after {allowed:%Y-%m-%d %H:%M} UTC" in refused.get_json()["error"]
    assert len(_runs()) == before
    assert login(client, world.alice.email, TEST_PASSWORD).status_code == 302
    page = client.get(f"/tenants/acme/servers/{server.id}/warmup").get_data(as_text=True)
    assert f"next switch is allowed after {allowed:%Y-%m-%d %H:%M} UTC" in page
    confirm = client.get(path.removeprefix("/api/v1"), follow_redirects=True).get_data(as_text=True)
    assert "next IP switch is allowed after" in confirm and "Type mf-acme-1" not in confirm

    # Once the cooldown is over, the tenant switches again with no override recorded.
    change.changed_at -= timedelta(hours=24, minutes=1)
    db.session.commit()
    again = ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    assert "switch_ip_cooldown_override" not in again.extravars


def test_an_administrator_overrides_the_cooldown_on_the_record(client, world, server, hostwinds, as_admin):
    _finish(hostwinds, ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1"))
    [change] = ipswitch.history(db.session.get(Server, server.id))
    until = change.changed_at + timedelta(hours=24)
    with pytest.raises(Conflict, match="As an administrator you may override it"):
        ipswitch.switch_ip(Scope(world.admin), world.acme, server.id, "mf-acme-1")
    url = f"/tenants/acme/servers/{server.id}/switch-ip"
    page = as_admin.get(url).get_data(as_text=True)
    assert "Override the cooldown" in page and f"after {until:%Y-%m-%d %H:%M} UTC" in page
    form = {"csrf_token": csrf_token(as_admin, url), "confirm": "mf-acme-1", "submission_key": "override-1"}
    refused = as_admin.post(url, data=form, follow_redirects=True).get_data(as_text=True)
    assert "next IP switch is allowed after" in refused
    response = as_admin.post(url, data={**form, "override_cooldown": "y"})
    assert response.status_code == 302 and "/runs/" in response.headers["Location"]
    run = _runs()[-1]
    assert run.catalogue_key == "switch_ip" and run.created_by_id == world.admin.id
    assert run.extravars["switch_ip_cooldown_override"] == f"{until:%Y-%m-%dT%H:%M:%S}Z"


def test_no_cooldown_when_the_setting_is_zero(app, world, server, hostwinds, monkeypatch):
    _finish(hostwinds, ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1"))
    monkeypatch.setitem(app.config, "MAILFLEET_IP_SWITCH_COOLDOWN_HOURS", 0.0)
    run = ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    assert run.catalogue_key == "switch_ip" and "switch_ip_cooldown_override" not in run.extravars


def test_the_old_address_checks_leave_the_board_and_its_listing_resolves(world, server, hostwinds):
    """A listing of the address the server left must not hold its caps down or stay open: its
    alert resolves, the checks naming the old address leave the board; their results remain."""
    from mailfleet.monitoring import AlertPolicies, AlertPolicy, CheckResult, Status, record_results
    from webapp.models import HealthAlert, HealthCheck, HealthResult
    from webapp.models.health import SqlHealthStore

    old = server.public_ipv4
    on_old = {f"dnsbl:zen.spamhaus.org:{old}", f"ptr:{old}", f"port:25@{old}"}
    kept = {"dns:a:mail.acme.test", "spf:acme.test"}
    results = [CheckResult(server.name, check, Status.ERROR if check.startswith("dnsbl:") else Status.OK,
                           None, "listed" if check.startswith("dnsbl:") else "fine", utcnow())
               for check in on_old | kept]
    record_results(SqlHealthStore(), results, AlertPolicies(AlertPolicy(fail_after=1)))
    [listing] = db.session.scalars(select(HealthAlert)).all()
    assert listing.resolved_at is None

    run = ipswitch.switch_ip(Scope(world.alice), world.acme, server.id, "mf-acme-1")
    _finish(hostwinds, run)
    checks = set(db.session.scalars(select(HealthCheck.check).where(HealthCheck.server_id == server.id)))
    assert checks == kept
    db.session.refresh(listing)
    assert listing.resolved_at is not None
    assert f"left {old} for {NEW_IP}" in " ".join(event.detail for event in listing.events)
    stored = set(db.session.scalars(select(HealthResult.check)))
    assert stored == on_old | kept  # the old address's history
