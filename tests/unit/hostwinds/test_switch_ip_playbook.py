"""playbooks/switch_ip.yml against the double: a new main IP with the mail host name as its PTR, a
second run that changes nothing, and the silent cooldown failing clearly with the address kept."""

from __future__ import annotations

import json
import subprocess

import pytest
from hostwinds_fakes import ServedDouble, cached_facts, run_playbook

from mailfleet.hostwinds import contract as c
from testbed.doubles.hostwinds import DEFAULT_KEY, Fault, HostwindsState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]


@pytest.fixture
def setup(store_env):
    state = HostwindsState(ip_change_seconds=0.3)
    state.seed(1, tenants=1)  # mf-tenant000-1, ACTIVE
    double = ServedDouble(state)
    yield double, store_env
    double.close()


def switch(
    env: dict[str, str], double: ServedDouble, old_ip: str, **more: object
) -> subprocess.CompletedProcess[str]:
    extravars = {
        "mailfleet_tenant": "tenant000", "server_index": 1, "switch_ip_from": old_ip,
        "mail_hostname": "mail.tenant000.example", "server_api_url": double.url,
        "server_poll_interval": 0.1, **more,
    }
    return run_playbook("switch_ip.yml", env, "--skip-tags", "ssh", "-e", json.dumps(extravars))


def test_the_server_moves_to_a_new_ip_named_by_its_ptr_and_a_second_run_changes_nothing(setup):
    double, env = setup
    (record,) = double.state.instances.values()
    old = record["main_ip"]
    cached = cached_facts(env, "mf-tenant000-1")
    first = switch(env, double, old)
    assert first.returncode == 0, first.stdout[-3000:]
    assert not cached.exists()  # the next run gathers the server's addresses again
    new = record["main_ip"]
    assert new != old
    assert f"mf-tenant000-1 moved from {old} to {new}" in first.stdout
    ptr = {e["ip"]: e.get(c.IP_RDNS_KEY) for e in record["ips"]}
    assert ptr[new] == "mail.tenant000.example"
    second = switch(env, double, old)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout and record["main_ip"] == new
    assert double.state.calls["change_main_ip"] == 1
    assert DEFAULT_KEY not in first.stdout + first.stderr and record["password"] not in first.stdout


def test_the_silent_cooldown_fails_clearly_and_keeps_the_address(setup):
    double, env = setup
    (record,) = double.state.instances.values()
    old = record["main_ip"]
    double.state.faults.append(Fault("cooldown", "change_main_ip"))
    failed = switch(env, double, old, server_wait_timeout=1)
    assert failed.returncode != 0
    assert "silent cooldown" in failed.stdout and record["main_ip"] == old
    assert all(e.get(c.IP_RDNS_KEY) is None for e in record["ips"])


def test_bad_input_is_refused_before_the_provider_is_asked(setup):
    double, env = setup
    failed = switch(env, double, "not-an-ip")
    assert failed.returncode != 0
    assert "switch_ip_from (the current main IPv4)" in failed.stdout
    assert double.state.calls["change_main_ip"] == 0
