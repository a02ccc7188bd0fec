"""Hostwinds behind the provider interface, against its contract double: the same record fields,
states and regions as every provider, with the client's behaviour unchanged underneath."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from mailfleet.hostwinds import HostwindsClient
from mailfleet.providers import RECORD_FIELDS, Provider, ServerState
from mailfleet.providers.hostwinds import HostwindsProvider
from mailfleet.regions import Region
from testbed.doubles import hostwinds as double
from webapp.testing import ServedApp

pytestmark = pytest.mark.unit


@pytest.fixture
def state() -> double.HostwindsState:
    return double.HostwindsState(clock=double.ManualClock(), build_seconds=30)


@pytest.fixture
def provider(state: double.HostwindsState) -> Iterator[HostwindsProvider]:
    served = ServedApp(double.create_app(state))
    client = HostwindsClient(double.DEFAULT_KEY, f"{served.url}/cloud/api.php", attempts=1,
                             poll_interval=10, sleep=state.clock.advance, monotonic=state.clock.now)
    yield HostwindsProvider(client)
    served.stop()


def test_hostwinds_answers_the_provider_interface(provider, state):
    assert isinstance(provider, Provider)
    assert provider.locations() == ["Seattle", "Dallas", "Amsterdam"]
    assert provider.plans()[1].id == "102" and provider.plans()[1].monthly == Decimal("9.99")
    record = provider.create("mf-acme-1", plan="102", location="Amsterdam", image="debian-12")
    assert set(record) == set(RECORD_FIELDS)
    assert record["state"] == ServerState.BUILDING
    active = provider.wait_active(record["provider_id"], timeout=600)
    assert (active["state"], active["tenant"], active["location"], active["region"]) == (
        ServerState.ACTIVE, "acme", "Amsterdam", Region.EU)
    assert active["monthly_price"] == "9.99" and active["public_ipv4"]
    provider.set_ptr(active["provider_id"], active["public_ipv4"], "mail.acme.example")
    assert provider.ptr(active["provider_id"], active["public_ipv4"]) == "mail.acme.example"
    provider.destroy(active["provider_id"])
    provider.destroy(active["provider_id"])  # gone already: no error
    assert provider.servers() == []
