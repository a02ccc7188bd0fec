"""playbooks/provision.yml against the double (no hosts: the `ssh` tag is skipped here; the testbed
tier runs it whole). The API key comes from the secrets store, never from extravars."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostwinds_fakes import ServedDouble, run_playbook

from testbed.doubles.hostwinds import DEFAULT_KEY, HostwindsState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]


@pytest.fixture
def setup(tmp_path, store_env):
    double = ServedDouble(HostwindsState(build_seconds=1.0))
    env = store_env
    extravars = tmp_path / "tenant.yml"
    extravars.write_text(
        "mailfleet_tenant: big-co\nserver_location: Amsterdam\nserver_plan: '102'\n"
        "mail_hostname: mail.big-co.test\nserver_api_url: " + double.url + "\n"
        f"provision_ssh_key_dir: {tmp_path}/keys\nserver_poll_interval: 0.3\n"
    )
    yield double, env, extravars, tmp_path
    double.close()


def provision(env: dict[str, str], extravars: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_playbook("provision.yml", env, "-e", f"@{extravars}", "--skip-tags", "ssh", *extra)


def test_provision_creates_sets_ptr_and_second_run_changes_nothing(setup):
    double, env, extravars, tmp_path = setup
    first = provision(env, extravars)
    assert first.returncode == 0, first.stdout[-3000:]
    (record,) = double.state.instances.values()
    assert (record["srvrname"], record["status"], record["product_id"]) == ("mf-big-co-1", "ACTIVE", 102)
    assert record["ips"][0]["rdns"] == "mail.big-co.test"
    assert record["location_id"] == 3
    key = tmp_path / "keys" / "big-co"
    assert key.stat().st_mode & 0o777 == 0o600 and "PRIVATE KEY" in key.read_text()
    assert double.state.ssh_keys  # the tenant's public key went along with the create
    second = provision(env, extravars)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout
    assert double.state.calls["add_instance"] == 1 and len(double.state.instances) == 1
    for text in (first.stdout, second.stdout, first.stderr):
        assert DEFAULT_KEY not in text and record["password"] not in text and record["configkey"] not in text


def test_bad_input_stops_before_any_api_call(setup):
    double, env, extravars, _ = setup
    extravars.write_text(extravars.read_text().replace("mail.big-co.test", "not a hostname"))
    result = provision(env, extravars)
    assert result.returncode != 0 and "mail_hostname" in result.stdout
    assert sum(double.state.calls.values()) == 0
