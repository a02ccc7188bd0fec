"""Who may order servers, and how many and how costly: refusals come before anything is written
or enqueued. Plan prices come from the Hostwinds API double's price list."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from mailfleet.hostwinds import HostwindsClient
from testbed.doubles import hostwinds as hostwinds_double
from webapp.errors import Forbidden, InvalidInput
from webapp.extensions import db
from webapp.models import Role, Run, RunStatus, Server, ServerStatus
from webapp.queue import get_queue
from webapp.services import accounts, fleet, quotas, runs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import ServedApp, csrf_token, login

pytestmark = pytest.mark.unit

# Plans of the double: 101 costs 4.99 a month, 102 costs 9.99.
SMALL, LARGER = "101", "102"


@pytest.fixture(autouse=True)
def price_list(app) -> Iterator[hostwinds_double.HostwindsState]:
    """The provider (the Hostwinds double): its offers and plan prices."""
    state = hostwinds_double.HostwindsState()
    served = ServedApp(hostwinds_double.create_app(state))
    app.config["HOSTWINDS_CLIENT"] = HostwindsClient(
        hostwinds_double.DEFAULT_KEY, f"{served.url}/cloud/api.php", attempts=1
    )
    yield state
    served.stop()


@pytest.fixture
def carol(world):
    """A mailbox manager of acme: may not spend."""
    return accounts.add_member(
        Scope(world.admin), world.acme, "carol@acme.example", PASSWORD, Role.MAILBOX_MANAGER
    )


def _order(user, tenant, plan: str = SMALL, n: int = 1):
    return fleet.provision_server(Scope(user), tenant, "Seattle", plan, f"mail{n}.acme.example")


def _nothing_more(app, servers: int, runs_: int) -> None:
    db.session.rollback()
    assert db.session.execute(select(func.count(Server.id))).scalar_one() == servers
    assert db.session.execute(select(func.count(Run.id))).scalar_one() == runs_
    assert get_queue(app).count == runs_


def test_a_mailbox_manager_may_not_order_servers_but_manages_domains(app, world, carol):
    with pytest.raises(Forbidden, match="ordering servers takes a member or admin"):
        _order(carol, world.acme)
    _nothing_more(app, servers=0, runs_=0)
    server = Server(tenant_id=world.acme.id, name="mf-acme-1", status=ServerStatus.ACTIVE)
    db.session.add(server)
    db.session.commit()
    run = fleet.add_domain(Scope(carol), world.acme, server.id, "acme-mail.example")
    assert run.catalogue_key == "domain" and get_queue(app).count == 1


def test_the_provision_form_of_a_mailbox_manager_changes_nothing(app, client, world, carol):
    login(client, carol.email, PASSWORD)
    page = f"/tenants/{world.acme.slug}"
    data = {"location": "Seattle", "plan": SMALL, "mail_hostname": "mail.acme.example"}
    response = client.post(
        f"{page}/servers",
        data={**data, "submission_key": "k" * 16, "csrf_token": csrf_token(client, page)},
        follow_redirects=True,
    )
    assert "ordering servers takes a member or admin" in response.get_data(as_text=True)
    _nothing_more(app, servers=0, runs_=0)


def test_the_server_limit(app, world):
    quotas.set_limits(Scope(world.admin), world.acme, 1, None)
    _order(world.alice, world.acme)
    with pytest.raises(Forbidden, match="at most 1 server"):
        _order(world.alice, world.acme, n=2)
    _nothing_more(app, servers=1, runs_=1)
    _order(world.bob, world.globex)  # another tenant's limits are its own


def test_the_monthly_spending_limit_in_plan_prices(app, world, price_list):
    quotas.set_limits(Scope(world.admin), world.acme, None, Decimal("10.00"))
    _order(world.alice, world.acme, SMALL)
    assert db.session.execute(select(Server.monthly_price)).scalar_one() == Decimal("4.99")
    with pytest.raises(Forbidden, match="at most 10.00 a month.*4.99.*9.99"):
        _order(world.alice, world.acme, LARGER, n=2)
    _nothing_more(app, servers=1, runs_=1)
    _order(world.alice, world.acme, "Unmetered SSD VPS 1 GB", n=3)  # by name: 9.98 in all
    with pytest.raises(InvalidInput, match="not in the provider's price list"):
        _order(world.alice, world.acme, "999", n=4)
    _nothing_more(app, servers=2, runs_=2)


def test_a_retried_provisioning_is_held_to_the_limits_too(app, world, carol):
    run = _order(world.alice, world.acme)
    run.status = RunStatus.FAILED
    db.session.commit()
    with pytest.raises(Forbidden):
        runs.retry_run(Scope(carol), run.id)
    quotas.set_limits(Scope(world.admin), world.acme, 0, None)
    with pytest.raises(Forbidden, match="at most 0 server"):
        runs.retry_run(Scope(world.alice), run.id)
    _nothing_more(app, servers=1, runs_=1)


def test_only_an_admin_sets_the_limits(app, client, world):
    with pytest.raises(Forbidden):
        quotas.set_limits(Scope(world.alice), world.acme, 99, None)
    login(client, world.admin.email, PASSWORD)
    page = f"/tenants/{world.acme.slug}"
    response = client.post(
        f"{page}/limits",
        data={"max_servers": "3", "max_monthly_spend": "25.50", "csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (world.acme.max_servers, world.acme.max_monthly_spend) == (3, Decimal("25.50"))


def test_one_price_list_for_the_form_the_limit_and_the_new_server(app, client, world, price_list):
    """The offers the form shows, the spending limit and the server's monthly price are one reading
    of the provider's price list."""
    login(client, world.alice.email, PASSWORD)
    assert "Unmetered SSD VPS 1 GB ($4.99/month)" in client.get(f"/tenants/{world.acme.slug}").get_data(
        as_text=True
    )
    quotas.set_limits(Scope(world.admin), world.acme, None, Decimal("100.00"))
    _order(world.alice, world.acme, SMALL)
    quotas.set_limits(Scope(world.admin), world.acme, None, None)
    _order(world.alice, world.acme, LARGER, n=2)  # no limit: the price is still the plan's
    prices = db.session.execute(select(Server.monthly_price).order_by(Server.id)).scalars().all()
    assert prices == [Decimal("4.99"), Decimal("9.99")]
    assert price_list.calls["get_price_list"] == 1
