"""The demo stack offers both providers, each at its testbed double, and its runs reach the doubles
too; the tests' stacks keep ordering at Hostwinds alone. Unit tier: the stack's environment and
the demo's DigitalOcean token, checked against the double served on loopback (no stack started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.bridge import child_environment
from mailfleet.digitalocean import DigitalOceanClient
from mailfleet.providers.digitalocean import DigitalOceanProvider
from mailfleet.secrets import get_store
from mailfleet.secrets.paths import DIGITALOCEAN_PATH
from mailfleet.settings import Settings
from testbed import Testbed, demo
from testbed.doubles import digitalocean as digitalocean_double
from testbed.stack import Stack, provider_env
from webapp.testing import ServedApp

pytestmark = pytest.mark.unit


@pytest.fixture
def tb() -> Testbed:
    return Testbed()  # MAILFLEET_TESTBED_INSTANCE's; only its addresses are read


def test_the_demo_offers_both_providers_each_at_its_double(tb):
    env = provider_env(tb, demo.PROVIDERS)
    assert "digitalocean" in demo.DOUBLES and "hostwinds" in demo.DOUBLES
    assert Settings(env)["MAILFLEET_PROVIDERS"] == ("hostwinds", "digitalocean")
    assert env["DIGITALOCEAN_API_URL"] == tb.double_url("digitalocean")
    assert env["HOSTWINDS_API_URL"] == f"{tb.double_url('hostwinds')}/cloud/api.php"


def test_the_tests_stacks_order_at_hostwinds_alone(tb, tmp_path):
    env = provider_env(tb, Stack(tb, tmp_path).providers)
    assert Settings(env)["MAILFLEET_PROVIDERS"] == ("hostwinds",)


def test_a_run_gets_both_providers_api_addresses_and_no_other_setting(tb, tmp_path):
    worker = {**provider_env(tb, demo.PROVIDERS), "MAILFLEET_SECRETS_FILE": "/secret/store.enc"}
    child = child_environment(worker, Path("/repo"), tmp_path, tmp_path / "control")
    assert child["DIGITALOCEAN_API_URL"] == tb.double_url("digitalocean")
    assert child["HOSTWINDS_API_URL"] == worker["HOSTWINDS_API_URL"]
    assert "MAILFLEET_PROVIDERS" not in child and "MAILFLEET_SECRETS_FILE" not in child


def test_the_demo_token_is_the_one_the_double_accepts_and_a_token_set_is_kept(tmp_path):
    store = get_store({"MAILFLEET_SECRETS_BACKEND": "local",
                       "MAILFLEET_SECRETS_FILE": str(tmp_path / "store.enc"),
                       "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "master.key")})
    demo.seed_digitalocean_token(store)
    token = store.get_field(DIGITALOCEAN_PATH, "api_token")
    served = ServedApp(digitalocean_double.create_app(digitalocean_double.DigitalOceanState()))
    try:
        assert "ams3" in DigitalOceanProvider(DigitalOceanClient(token, served.url, attempts=1)).locations()
    finally:
        served.stop()
    store.put(DIGITALOCEAN_PATH, {"api_token": "dop_v1_own"})
    demo.seed_digitalocean_token(store)  # a second run changes nothing
    assert store.get_field(DIGITALOCEAN_PATH, "api_token") == "dop_v1_own"
