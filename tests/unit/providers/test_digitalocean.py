"""DigitalOcean behind the provider interface, against the contract double served on loopback:
ordering, the label tag, the PTR by rename, resize, destroy, pages, errors and the rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from mailfleet.digitalocean import (
    DigitalOceanClient,
    DropletExistsError,
    NotAuthorizedError,
    RateLimitedError,
    TransportError,
    UnprocessableError,
)
from mailfleet.providers import NotOfferedError, Provider, ServerState
from mailfleet.providers.digitalocean import DigitalOceanProvider
from mailfleet.regions import Region
from testbed.doubles import digitalocean as double
from testbed.doubles.hostwinds import ManualClock
from webapp.testing import ServedApp

pytestmark = pytest.mark.unit

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMailfleetDoubleKeyOnlyForTests tenant"


@pytest.fixture
def state() -> double.DigitalOceanState:
    return double.DigitalOceanState(clock=ManualClock(), build_seconds=30, action_seconds=5)


@pytest.fixture
def served(state: double.DigitalOceanState) -> Iterator[ServedApp]:
    app = ServedApp(double.create_app(state))
    yield app
    app.stop()


def client_for(served: ServedApp, state: double.DigitalOceanState, token: str = double.DEFAULT_TOKEN,
               ) -> DigitalOceanClient:
    return DigitalOceanClient(token, served.url, poll_interval=5, sleep=state.clock.advance,
                              monotonic=state.clock.now)


def order(provider: DigitalOceanProvider, location: str) -> int:
    record = provider.create("mf-acme-1", plan="s-1vcpu-1gb", location=location, image="debian-12-x64")
    return int(record["provider_id"])


@pytest.fixture
def provider(served: ServedApp, state: double.DigitalOceanState) -> DigitalOceanProvider:
    return DigitalOceanProvider(client_for(served, state))


def test_it_is_a_provider_whose_locations_plans_and_regions_come_from_the_api(provider):
    assert isinstance(provider, Provider)
    assert "sfo1" not in provider.locations()  # listed by the API as not available
    assert {"nyc3", "ams3", "sgp1"} <= set(provider.locations())
    small = next(p for p in provider.plans() if p.id == "s-1vcpu-1gb")
    assert (small.monthly, small.ram_mb, small.disk_gb, small.bandwidth_gb) == (
        Decimal("6.00"), 1024, 25, 1000)
    assert provider.location_regions["ams3"] is Region.EU
    assert provider.location_regions["sgp1"] is Region.ASIA
    assert "tor1" not in provider.location_regions


def test_an_order_becomes_an_active_server_with_its_label_tenant_address_and_price(provider, state):
    record = provider.create("mf-acme-2", plan="s-1vcpu-2gb", location="ams3", image="debian-12-x64",
                             ssh_public_key=KEY)
    assert record["state"] == ServerState.BUILDING and record["public_ipv4"] is None
    active = provider.wait_active(record["provider_id"], timeout=600)
    assert active["state"] == ServerState.ACTIVE
    assert (active["name"], active["tenant"], active["location"], active["region"]) == (
        "mf-acme-2", "acme", "ams3", Region.EU)
    assert active["monthly_price"] == "12.00" and active["plan_id"] == "s-1vcpu-2gb"
    assert active["public_ipv4"]
    [droplet] = state.droplets.values()
    assert droplet["tags"] == ["mailfleet:mf-acme-2"]
    assert [k["public_key"] for k in state.ssh_keys.values()] == [KEY]
    assert [r["name"] for r in provider.servers()] == ["mf-acme-2"]


def test_a_second_order_for_the_same_label_is_refused_and_nothing_is_created(provider, state):
    provider.create("mf-acme-1", plan="s-1vcpu-1gb", location="nyc3", image="debian-12-x64")
    with pytest.raises(DropletExistsError, match="exists already"):
        provider.create("mf-acme-1", plan="s-1vcpu-1gb", location="nyc3", image="debian-12-x64")
    assert len(state.droplets) == 1


@pytest.mark.parametrize(
    ("location", "plan", "message"),
    [("xyz9", "s-1vcpu-1gb", "invalid region"), ("sfo1", "s-1vcpu-1gb", "invalid region"),
     ("ams3", "s-64vcpu", "invalid size")],
)
def test_what_the_provider_does_not_sell_is_refused_with_its_words(provider, state, location, plan, message):
    with pytest.raises(UnprocessableError, match=message) as caught:
        provider.create("mf-acme-1", plan=plan, location=location, image="debian-12-x64")
    assert caught.value.status == 422 and caught.value.error_id == "unprocessable_entity"
    assert caught.value.request_id and caught.value.request_id in str(caught.value)
    assert state.droplets == {}


def test_the_ptr_is_the_droplet_name_so_setting_it_renames_and_keeps_the_label(provider):
    sid = order(provider, "fra1")
    record = provider.wait_active(sid, timeout=600)
    assert provider.ptr(sid, record["public_ipv4"]) is None  # a label is not a host name
    provider.set_ptr(sid, record["public_ipv4"], "mail.acme.example")
    assert provider.ptr(sid, record["public_ipv4"]) == "mail.acme.example"
    after = provider.server(sid)
    assert (after["name"], after["mail_hostname"], after["hostname"]) == (
        "mf-acme-1", "mail.acme.example", "mail.acme.example")
    calls = sum(provider.client.calls.values())
    provider.set_ptr(sid, record["public_ipv4"], "mail.acme.example")  # already so: no action
    assert sum(provider.client.calls.values()) == calls + 1


def test_resize_powers_off_resizes_and_powers_on_and_a_second_one_changes_nothing(provider, state):
    sid = order(provider, "lon1")
    provider.wait_active(sid, timeout=600)
    resized, changed = provider.resize(sid, "s-2vcpu-4gb")
    assert (resized["plan_id"], resized["state"], resized["monthly_price"], changed) == (
        "s-2vcpu-4gb", "active", "24.00", True)
    assert [a["type"] for a in state.actions.values()] == ["power_off", "resize", "power_on"]
    assert provider.resize(sid, "Basic 4 GB")[1] is False  # by its name too
    assert len(state.actions) == 3


def test_a_droplet_keeps_its_address_clearly_and_nothing_is_asked(provider, state):
    sid = order(provider, "lon1")
    provider.wait_active(sid, timeout=600)
    with pytest.raises(NotOfferedError, match="keeps a droplet's public IPv4.*Nothing was changed"):
        provider.change_main_ip(sid, timeout=5)
    assert state.actions == {}


def test_a_droplet_busy_with_an_action_refuses_another(provider, state):
    sid = order(provider, "lon1")
    provider.wait_active(sid, timeout=600)
    provider.client.droplet_action(sid, "reboot")
    with pytest.raises(UnprocessableError, match="pending event"):
        provider.client.droplet_action(sid, "power_off")


def test_destroy_removes_it_and_a_second_destroy_is_no_error(provider, state):
    sid = order(provider, "lon1")
    provider.destroy(sid)
    provider.destroy(sid)
    assert state.droplets == {} and provider.servers() == []


def test_lists_are_followed_through_every_page(provider, state):
    for n in range(1, 206):
        state.create({"name": f"mf-t{n:03d}-1", "region": "nyc3", "size": "s-1vcpu-1gb",
                      "image": "debian-12-x64"})
    assert len(provider.servers()) == 205
    assert provider.client.calls["GET /v2/droplets"] == 2


def test_a_wrong_token_is_named_and_nothing_is_created(served, state):
    provider = DigitalOceanProvider(client_for(served, state, token="dop_v1_revoked"))
    with pytest.raises(NotAuthorizedError, match="refused the token"):
        provider.create("mf-acme-1", plan="s-1vcpu-1gb", location="nyc3", image="debian-12-x64")
    assert state.droplets == {}


def test_the_rate_limit_headers_are_kept_and_a_spent_budget_says_when_it_resets(provider, served):
    provider.locations()
    assert provider.client.rate["ratelimit-limit"] == "5000"
    assert int(provider.client.rate["ratelimit-remaining"]) < 5000
    requests.post(f"{served.url}/_double/rate", json={"remaining": 0}, timeout=5)
    with pytest.raises(RateLimitedError, match="rate limit is reached"):
        provider.locations()
    assert provider.client.calls["GET /v2/regions"] == 1 + 3  # the bounded attempts, then the error


def test_a_server_error_on_a_read_is_retried_but_an_order_is_never_sent_twice(provider, served, state):
    requests.post(f"{served.url}/_double/faults", json={"path": "/v2/regions"}, timeout=5)
    assert provider.locations()
    fault = {"path": "/v2/droplets", "method": "POST"}
    requests.post(f"{served.url}/_double/faults", json=fault, timeout=5)
    with pytest.raises(TransportError, match="not repeated"):
        provider.create("mf-acme-1", plan="s-1vcpu-1gb", location="nyc3", image="debian-12-x64")
    assert provider.client.calls["POST /v2/droplets"] == 1
