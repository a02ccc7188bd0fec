"""The provisioning form with two providers (MAILFLEET_PROVIDERS): it offers the provider, each
one's locations and plans under its name, and orders through the same service as the API, so a
provider, location or plan the deployment or that provider does not offer is refused with the same
words and nothing is written. Offers come from the Hostwinds and DigitalOcean API doubles."""

from __future__ import annotations

import html
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailfleet.digitalocean import DigitalOceanClient
from testbed.doubles import digitalocean as digitalocean_double
from webapp.extensions import db
from webapp.models import Run, Server
from webapp.queue import get_queue
from webapp.services import accounts
from webapp.testing import ServedApp, csrf_token

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("hostwinds")]

PAGE = "/tenants/acme"


@pytest.fixture
def both(app: Flask) -> Iterator[None]:
    """DigitalOcean's double beside Hostwinds', both providers of the deployment."""
    served = ServedApp(digitalocean_double.create_app(digitalocean_double.DigitalOceanState()))
    app.config["DIGITALOCEAN_CLIENT"] = DigitalOceanClient(digitalocean_double.DEFAULT_TOKEN, served.url,
                                                           attempts=1)
    app.config["MAILFLEET_PROVIDERS"] = ("hostwinds", "digitalocean")
    yield
    served.stop()


def _order(client, **fields: str):
    data = {"location": "region:eu", "plan": "101", "mail_hostname": "mail.acme.example",
            "submission_key": "p" * 16, "csrf_token": csrf_token(client, PAGE), **fields}
    answer = client.post(f"{PAGE}/servers", data=data, follow_redirects=True)
    return html.unescape(answer.get_data(as_text=True))


def _nothing_ordered(app: Flask) -> None:
    db.session.rollback()
    assert db.session.scalar(select(func.count(Server.id))) == 0
    assert db.session.scalar(select(func.count(Run.id))) == 0
    assert get_queue(app).count == 0


def test_one_provider_is_not_offered_as_a_choice(app, as_admin):
    page = as_admin.get(PAGE).get_data(as_text=True)
    assert 'name="provider"' not in page
    assert '<option value="Dallas">Dallas (United States)</option>' in page
    assert "optgroup" not in page


@pytest.mark.usefixtures("both")
def test_two_providers_are_offered_each_with_its_own_locations_and_plans(app, as_admin):
    page = as_admin.get(PAGE).get_data(as_text=True)
    assert '<option value="hostwinds">Hostwinds</option>' in page
    assert '<option value="digitalocean">DigitalOcean</option>' in page
    digitalocean = page.split('<optgroup label="DigitalOcean">')
    assert len(digitalocean) == 3  # its locations and its plans
    locations, plans = (group.split("</optgroup>")[0] for group in digitalocean[1:])
    assert '<option value="ams3">ams3 (Europe)</option>' in locations and "Dallas" not in locations
    assert 'value="s-1vcpu-1gb"' in plans and 'value="101"' not in plans
    # Hostwinds has nothing in Asia, DigitalOcean has: the region is offered, the provider places it.
    assert '<option value="region:asia">Anywhere in Asia</option>' in page


@pytest.mark.usefixtures("both")
def test_the_form_orders_at_the_provider_chosen_like_the_api(app, as_admin, world):
    done = _order(as_admin, provider="digitalocean", location="region:asia", plan="s-1vcpu-1gb")
    assert "Provisioning queued as run" in done
    server = db.session.scalars(select(Server)).one()
    assert (server.provider, server.location, server.plan) == ("digitalocean", "sgp1", "s-1vcpu-1gb")
    run = db.session.scalars(select(Run)).one()
    assert run.extravars["mailfleet_provider"] == "digitalocean"
    token = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    api = as_admin.post("/api/v1/tenants/acme/servers", headers=token, json={
        "provider": "digitalocean", "region": "asia", "plan": "s-1vcpu-1gb",
        "mail_hostname": "mail2.acme.example"})
    assert api.status_code == 202, api.get_json()
    assert db.session.scalars(select(Server.provider).where(Server.id != server.id)).one() == "digitalocean"


@pytest.mark.usefixtures("both")
@pytest.mark.parametrize(("fields", "message"), [
    ({"provider": "linode"}, "unknown provider 'linode'; this deployment orders at hostwinds, digitalocean"),
    ({"provider": "digitalocean", "location": "Dallas"}, "unknown location 'Dallas'; DigitalOcean offers"),
    ({"provider": "hostwinds", "plan": "s-1vcpu-1gb"}, "unknown plan 's-1vcpu-1gb'; Hostwinds offers"),
    ({"provider": "hostwinds", "location": "region:asia"}, "Hostwinds offers no location in Asia"),
])
def test_what_the_provider_chosen_does_not_offer_is_refused_and_nothing_is_written(app, as_admin, fields,
                                                                                   message):
    assert message in _order(as_admin, **fields)
    _nothing_ordered(app)


@pytest.mark.usefixtures("both")
def test_a_provider_that_cannot_be_read_is_unavailable_alone_and_the_other_still_orders(app, as_admin):
    served_at = app.config["DIGITALOCEAN_CLIENT"].api_url
    app.config["DIGITALOCEAN_CLIENT"] = DigitalOceanClient("dop_v1_revoked", served_at, attempts=1)
    page = html.unescape(as_admin.get(PAGE).get_data(as_text=True))
    assert '<option disabled value="digitalocean">digitalocean (not available now)</option>' in page
    assert "cannot read the provider's locations and plans (digitalocean)" in page
    assert 'id="offers-error"' not in page and '<option value="Dallas">' in page
    assert "s-1vcpu-1gb" not in page
    assert 'type="submit">Provision</button>' in page  # the form is not disabled
    refused = _order(as_admin, provider="digitalocean", location="ams3", plan="s-1vcpu-1gb")
    assert "cannot read the provider's locations and plans (digitalocean)" in refused
    _nothing_ordered(app)
    done = _order(as_admin, provider="hostwinds", location="Dallas", plan="101")
    assert "Provisioning queued as run" in done
    assert db.session.scalars(select(Server.provider)).one() == "hostwinds"


@pytest.mark.usefixtures("both")
def test_the_spending_limit_prices_an_order_at_the_provider_chosen(app, as_admin, world):
    world.acme.max_monthly_spend = Decimal("10.00")
    db.session.commit()
    refused = _order(as_admin, provider="digitalocean", location="ams3", plan="s-2vcpu-4gb")
    assert "may spend at most 10.00 a month" in refused and "this change 24.00 more" in refused
    _nothing_ordered(app)
    done = _order(as_admin, provider="digitalocean", location="ams3", plan="s-1vcpu-1gb")
    assert "Provisioning queued as run" in done
    assert db.session.scalars(select(Server.monthly_price)).one() == Decimal("6.00")
