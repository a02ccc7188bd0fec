"""A mail domain's secondary MX: chosen when the domain is added (the tenant's active server in
another region), set or cleared by an admin in the page or the API, refused with why for a server
that cannot be one (nothing changes then), given to each server by its run's inventory (the
relays it holds, the secondary MX of its domains), and forgotten when that server is deprovisioned."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jobs.inventory import tenant_inventory
from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import Domain, Run, RunStatus, ServerStatus
from webapp.services import accounts, fleet, lifecycle, secondary_mx
from webapp.services.scope import Scope
from webapp.testing import csrf_token

pytestmark = pytest.mark.unit


@pytest.fixture
def fleet_of_acme(app, world, add_server):
    """acme: mf-acme-1 in Seattle (US) with mail.acme.example, mf-acme-2 in Amsterdam (Europe),
    mf-acme-3 in Dallas (US); globex: mf-globex-1 in Amsterdam."""
    app.config["DNS_ZONE_CHECKER"] = lambda name: name
    servers = {
        name: add_server(tenant, name, f"198.18.20.{i}", location=location,
                         mail_hostname=f"mail.{name}.example")
        for i, (tenant, name, location) in enumerate(
            [(world.acme, "mf-acme-1", "Seattle"), (world.acme, "mf-acme-2", "Amsterdam"),
             (world.acme, "mf-acme-3", "Dallas"), (world.globex, "mf-globex-1", "Amsterdam")], start=1)
    }
    db.session.commit()
    return servers


def _domain(name: str) -> Domain:
    return db.session.execute(select(Domain).where(Domain.name == name)).scalar_one()


def _runs() -> int:
    return db.session.scalar(select(func.count(Run.id)))


def test_a_new_domain_gets_the_tenants_server_in_another_region_and_its_run_configures_both(
        world, fleet_of_acme):
    run = fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    domain = _domain("shop.acme.example")
    assert domain.secondary_server.name == "mf-acme-2"  # Amsterdam; Dallas is the same region
    assert (run.catalogue_key, run.limit, run.extravars) == ("domain", "mf-acme-1,mf-acme-2", {})

    hosts = tenant_inventory(world.acme)["all"]["children"]["mailfleet_servers"]["hosts"]
    assert hosts["mf-acme-1"]["mailfleet_secondary_mx"] == {"shop.acme.example": "mail.mf-acme-2.example"}
    assert hosts["mf-acme-1"]["mailfleet_relays"] == []
    assert hosts["mf-acme-2"]["mailfleet_relays"] == [
        {"name": "shop.acme.example", "smtp": "mail.mf-acme-1.example"}]
    assert hosts["mf-acme-2"]["mailfleet_domains"] == []


def test_no_secondary_when_the_tenant_has_no_active_server_elsewhere(world, fleet_of_acme):
    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-2"].id, "eu.acme.example")
    assert _domain("eu.acme.example").secondary_server.name == "mf-acme-1"
    fleet_of_acme["mf-acme-1"].status = fleet_of_acme["mf-acme-3"].status = ServerStatus.STOPPED
    run = fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-2"].id, "eu2.acme.example")
    assert _domain("eu2.acme.example").secondary_server is None
    assert run.limit == "mf-acme-2"


@pytest.mark.parametrize(("server", "why"), [
    ("mf-globex-1", "mf-globex-1 belongs to another tenant"),
    ("mf-acme-1", "mf-acme-1 is the domain's own server"),
    ("mf-acme-3", "mf-acme-3 is in the same region as mf-acme-1 (United States)"),
    ("gone", "mf-acme-2 is gone, not an active mail server"),
    ("unknown", "server 999 does not exist"),
])
def test_a_server_that_cannot_be_the_secondary_is_refused_and_nothing_changes(
        world, fleet_of_acme, server, why):
    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    domain = _domain("shop.acme.example")
    domain.secondary_server_id = None
    db.session.commit()
    before = _runs()
    if server == "gone":
        fleet_of_acme["mf-acme-2"].status = ServerStatus.GONE
        db.session.commit()
        server = "mf-acme-2"
    server_id = 999 if server == "unknown" else fleet_of_acme[server].id
    with pytest.raises(InvalidInput, match=why.replace("(", r"\(").replace(")", r"\)")):
        secondary_mx.set_secondary(Scope(world.admin), world.acme, domain.id, server_id)
    db.session.rollback()
    assert _domain("shop.acme.example").secondary_server_id is None and _runs() == before


def test_only_an_admin_sets_it_and_clearing_runs_on_the_former_secondary(world, fleet_of_acme):
    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    domain = _domain("shop.acme.example")
    with pytest.raises(Forbidden):
        secondary_mx.set_secondary(Scope(world.alice), world.acme, domain.id, None)
    run = secondary_mx.set_secondary(Scope(world.admin), world.acme, domain.id, None)
    assert _domain("shop.acme.example").secondary_server is None
    assert run.limit == "mf-acme-1,mf-acme-2"  # the former secondary drops its relay
    hosts = tenant_inventory(world.acme)["all"]["children"]["mailfleet_servers"]["hosts"]
    assert hosts["mf-acme-2"]["mailfleet_relays"] == [] and hosts["mf-acme-1"]["mailfleet_secondary_mx"] == {}


def test_the_api_and_the_page_set_and_show_it(client, as_admin, world, fleet_of_acme):
    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    domain = _domain("shop.acme.example")
    token = {"Authorization": f"Bearer {accounts.issue_api_token(world.admin)}"}
    url = f"/api/v1/tenants/acme/domains/{domain.id}/secondary-mx"
    refused = client.put(url, json={"server_id": fleet_of_acme["mf-acme-3"].id}, headers=token)
    assert refused.status_code == 400 and "same region" in refused.get_data(as_text=True)
    assert client.put(url, json={"server_id": None}, headers=token).status_code == 202
    listed = client.get("/api/v1/tenants/acme/domains", headers=token).get_json()
    assert [(d["name"], d["secondary_mx"]) for d in listed] == [("shop.acme.example", None)]

    page = as_admin.get("/tenants/acme").get_data(as_text=True)
    assert 'class="inline secondary-mx-form"' in page
    answer = as_admin.post(f"/tenants/acme/domains/{domain.id}/secondary-mx",
                           data={"csrf_token": csrf_token(as_admin, "/tenants/acme"),
                                 "submission_key": "k" * 16, "server_id": str(fleet_of_acme["mf-acme-2"].id)})
    assert answer.status_code == 302
    assert _domain("shop.acme.example").secondary_server.name == "mf-acme-2"
    page = as_admin.get("/tenants/acme").get_data(as_text=True)
    assert 'data-server="mf-acme-2"' in page


def test_a_deprovisioned_secondary_is_forgotten_and_the_primary_publishes_again(world, fleet_of_acme):
    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    backup = fleet_of_acme["mf-acme-2"]
    gone = Run(tenant_id=world.acme.id, playbook="deprovision.yml", catalogue_key="deprovision",
               status=RunStatus.SUCCESSFUL,
               extravars={"mailfleet_tenant": "acme", "mailfleet_provider": "hostwinds", "server_index": 2})
    db.session.add(gone)
    db.session.commit()
    lifecycle.note_run_finished(gone.id)
    assert backup.status == ServerStatus.GONE
    assert _domain("shop.acme.example").secondary_server is None
    again = db.session.execute(select(Run).where(Run.follows_id == gone.id)).scalar_one()
    assert (again.catalogue_key, again.limit) == ("domain", "mf-acme-1")


def test_the_health_sweep_probes_the_secondary_and_the_doctor_expects_both_mx(world, fleet_of_acme):
    from jobs.health import targets

    fleet.add_domain(Scope(world.admin), world.acme, fleet_of_acme["mf-acme-1"].id, "shop.acme.example")
    found = {t.name: t for t in targets()}
    assert found["mf-acme-2"].relays == ("shop.acme.example",) and found["mf-acme-1"].relays == ()
    (shop,) = found["mf-acme-1"].domains
    assert shop.secondary_mx == "mail.mf-acme-2.example"
