"""Regions: a server is ordered in a data centre, or in a region (United States, Europe, Asia) where
the control plane places it; a tenant's home region is where its servers go by default. Offers come
from the Hostwinds API double (Seattle and Dallas in the US, Amsterdam in Europe, nothing in Asia)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailfleet.regions import Region, UnknownRegion, parse_region
from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import Run, Server, ServerStatus
from webapp.queue import get_queue
from webapp.services import accounts, fleet
from webapp.services.scope import Scope
from webapp.testing import csrf_token

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("hostwinds")]


def _order(world, location=None, region=None, n=1):
    return fleet.provision_server(
        Scope(world.alice), world.acme, location, "101", f"mail{n}.acme.example", region=region
    )


def _token(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.issue_api_token(user)}"}


def _nothing_ordered(app) -> None:
    db.session.rollback()
    assert db.session.scalar(select(func.count(Server.id))) == 0
    assert db.session.scalar(select(func.count(Run.id))) == 0
    assert get_queue(app).count == 0


def test_regions_are_typed_by_code_or_name():
    assert parse_region("EU") is parse_region("europe") is Region.EU
    assert parse_region(" United States ") is Region.US
    with pytest.raises(UnknownRegion, match="unknown region 'mars'; regions are us, eu, asia"):
        parse_region("mars")


def test_a_region_order_is_placed_where_the_tenant_has_fewest_servers(app, world):
    first = _order(world, region="us", n=1)
    second = _order(world, region="us", n=2)
    third = _order(world, region="us", n=3)
    placed = [run.extravars["server_location"] for run in (first, second, third)]
    assert placed == ["Seattle", "Dallas", "Seattle"]  # spread over the region, the provider's order first
    servers = db.session.scalars(select(Server).order_by(Server.id)).all()
    assert [(s.location, s.region) for s in servers] == [
        ("Seattle", Region.US), ("Dallas", Region.US), ("Seattle", Region.US)]


def test_a_data_centre_the_provider_no_longer_lists_is_not_placed_in(app, world, hostwinds):
    hostwinds.locations = [loc for loc in hostwinds.locations if loc["name"] != "Seattle"]
    assert _order(world, region="us").extravars["server_location"] == "Dallas"


def test_the_home_region_is_the_default_and_a_location_still_wins(app, world):
    with pytest.raises(InvalidInput, match="choose a location or a region"):
        _order(world)
    _nothing_ordered(app)
    assert fleet.set_home_region(Scope(world.admin), world.acme, "Europe") is Region.EU
    assert _order(world, n=1).extravars["server_location"] == "Amsterdam"
    assert _order(world, location="Dallas", n=2).extravars["server_location"] == "Dallas"


@pytest.mark.parametrize(
    ("location", "region", "message"),
    [
        (None, "asia", r"Hostwinds offers no location in Asia \(United States: Seattle, Dallas; "
                       r"Europe: Amsterdam\)"),
        (None, "mars", "unknown region 'mars'"),
        ("Dallas", "eu", "Dallas is not in Europe"),
        ("Tokyo", None, "unknown location 'Tokyo'; Hostwinds offers Seattle, Dallas, Amsterdam"),
        (None, "us; DROP TABLE servers", "unknown region"),
    ],
)
def test_a_region_the_provider_cannot_serve_is_refused_and_nothing_is_ordered(app, world, location, region,
                                                                              message):
    with pytest.raises(InvalidInput, match=message):
        _order(world, location=location, region=region)
    _nothing_ordered(app)


def test_only_an_admin_sets_the_home_region(app, world):
    with pytest.raises(Forbidden):
        fleet.set_home_region(Scope(world.alice), world.acme, "eu")
    with pytest.raises(InvalidInput, match="unknown region"):
        fleet.set_home_region(Scope(world.admin), world.acme, "moon")
    db.session.refresh(world.acme)
    assert world.acme.home_region is None


def test_the_api_orders_by_region_and_sets_the_home_region(app, client, world):
    tenant = client.patch("/api/v1/tenants/acme", json={"home_region": "eu"}, headers=_token(world.admin))
    assert tenant.status_code == 200 and tenant.get_json()["home_region"] == "eu"
    refused = client.patch("/api/v1/tenants/acme", json={"home_region": "us"}, headers=_token(world.alice))
    assert refused.status_code == 403
    order = {"plan": "101", "mail_hostname": "mail.acme.example"}
    run = client.post("/api/v1/tenants/acme/servers", json=order, headers=_token(world.alice))
    assert run.status_code == 202, run.get_json()
    [server] = client.get("/api/v1/tenants/acme/servers", headers=_token(world.alice)).get_json()
    assert (server["location"], server["region"]) == ("Amsterdam", "eu")
    bad = client.post("/api/v1/tenants/acme/servers",
                      json={"plan": "101", "mail_hostname": "mail2.acme.example", "region": "asia"},
                      headers=_token(world.alice))
    assert bad.status_code == 400 and "no location in Asia" in bad.get_json()["error"]


def test_the_provision_form_offers_regions_and_preselects_the_home_region(app, as_admin, world):
    page = "/tenants/acme"
    html = as_admin.get(page).get_data(as_text=True)
    assert '<option value="Dallas">Dallas (United States)</option>' in html
    assert '<option value="region:eu">Anywhere in Europe</option>' in html
    assert "region:asia" not in html  # the provider has nothing there
    saved = as_admin.post(f"{page}/home-region", follow_redirects=True,
                          data={"home_region": "eu", "csrf_token": csrf_token(as_admin, page)})
    assert "New servers of acme go to Europe." in saved.get_data(as_text=True)
    preselected = '<option selected value="region:eu">Anywhere in Europe</option>'
    assert preselected in as_admin.get(page).get_data(as_text=True)
    ordered = as_admin.post(f"{page}/servers", data={
        "location": "region:eu", "plan": "101", "mail_hostname": "mail.acme.example",
        "submission_key": "r" * 16, "csrf_token": csrf_token(as_admin, page)}, follow_redirects=True)
    assert "Provisioning queued as run" in ordered.get_data(as_text=True)
    ordered_server = select(Server.location).where(Server.status == ServerStatus.REQUESTED)
    assert db.session.scalar(ordered_server) == "Amsterdam"
