"""playbooks/resize.yml against the double: the upgrade order, applying and confirming it, the
post-check that the new plan is live, and a second run that changes nothing."""

from __future__ import annotations

import json
import subprocess

import pytest
from hostwinds_fakes import ServedDouble, cached_facts, run_playbook

from testbed.doubles.hostwinds import DEFAULT_KEY, HostwindsState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]


@pytest.fixture
def setup(store_env):
    state = HostwindsState(resize_seconds=0.5)
    state.seed(1, tenants=1)  # mf-tenant000-1, ACTIVE on plan 101
    double = ServedDouble(state)
    yield double, store_env
    double.close()


def resize(env: dict[str, str], double: ServedDouble, plan: str) -> subprocess.CompletedProcess[str]:
    extravars = {
        "mailfleet_tenant": "tenant000", "server_index": 1, "server_plan": plan,
        "server_api_url": double.url, "server_poll_interval": 0.2,
        "resize_monthly_price": "18.99", "resize_previous_price": "4.99",
    }
    return run_playbook("resize.yml", env, "-e", json.dumps(extravars))


def test_resize_confirms_the_upgrade_checks_it_and_a_second_run_changes_nothing(setup):
    double, env = setup
    cached = cached_facts(env, "mf-tenant000-1")
    first = resize(env, double, "103")
    assert first.returncode == 0, first.stdout[-3000:]
    assert not cached.exists()  # the next run gathers the server's memory and CPUs again
    (record,) = double.state.instances.values()
    assert (record["status"], record["product_id"], record["upgrade"]) == ("ACTIVE", 103, None)
    assert double.state.calls["confirm_upgrade"] == 1
    assert "is active on Unmetered SSD VPS 4 GB, $18.99 a month (was $4.99)" in first.stdout
    second = resize(env, double, "Unmetered SSD VPS 4 GB")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout and double.state.calls["upgrade_instance"] == 1
    assert DEFAULT_KEY not in first.stdout + first.stderr and record["password"] not in first.stdout


def test_an_unknown_plan_fails_clearly_and_orders_nothing(setup):
    double, env = setup
    failed = resize(env, double, "999")
    assert failed.returncode != 0
    assert "999" in failed.stdout and double.state.calls["upgrade_instance"] == 0
