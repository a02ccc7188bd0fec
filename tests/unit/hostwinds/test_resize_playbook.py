"""playbooks/resize.yml against the double: the upgrade order, applying and confirming it, the
post-check that the new plan is live, and a second run that changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostwinds_fakes import ServedDouble

from mailfleet.secrets import get_store
from testbed.doubles.hostwinds import DEFAULT_KEY, HostwindsState

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@pytest.fixture
def setup(tmp_path):
    state = HostwindsState(resize_seconds=0.5)
    state.seed(1, tenants=1)  # mf-tenant000-1, ACTIVE on plan 101
    double = ServedDouble(state)
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(tmp_path / "s/store.enc"),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "s/master.key"),
    }
    get_store(env).put("global/hostwinds", {"api_key": DEFAULT_KEY})
    yield double, env, tmp_path
    double.close()


def resize(env: dict[str, str], double: ServedDouble, plan: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    full.pop("HOSTWINDS_API_KEY", None)
    extravars = (
        f'{{"mailfleet_tenant": "tenant000", "hostwinds_index": 1, "hostwinds_plan": "{plan}", '
        f'"hostwinds_api_url": "{double.url}", "hostwinds_poll_interval": 0.2, '
        '"resize_monthly_price": "18.99", "resize_previous_price": "4.99"}'
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), str(REPO / "playbooks/resize.yml"), "-e", extravars],
        capture_output=True,
        text=True,
        env=full,
        cwd=REPO,
        timeout=240,
    )


def test_resize_confirms_the_upgrade_checks_it_and_a_second_run_changes_nothing(setup):
    double, env, _ = setup
    first = resize(env, double, "103")
    assert first.returncode == 0, first.stdout[-3000:]
    (record,) = double.state.instances.values()
    assert (record["status"], record["product_id"], record["upgrade"]) == ("ACTIVE", 103, None)
    assert double.state.calls["confirm_upgrade"] == 1
    assert "is ACTIVE on Unmetered SSD VPS 4 GB, $18.99 a month (was $4.99)" in first.stdout
    second = resize(env, double, "Unmetered SSD VPS 4 GB")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout and double.state.calls["upgrade_instance"] == 1
    assert DEFAULT_KEY not in first.stdout + first.stderr and record["password"] not in first.stdout


def test_an_unknown_plan_fails_clearly_and_orders_nothing(setup):
    double, env, _ = setup
    failed = resize(env, double, "999")
    assert failed.returncode != 0
    assert "999" in failed.stdout and double.state.calls["upgrade_instance"] == 0
