"""playbooks/provision.yml ordering at DigitalOcean through its contract double, then resize.yml and
switch_ip.yml on the droplet (no hosts: the `ssh` tag is skipped here). The token comes from the
secrets store, never from extravars."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailfleet.secrets import get_store
from testbed.doubles import digitalocean as double
from webapp.testing import ServedApp

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[double.DigitalOceanState, dict[str, str], Path]]:
    state = double.DigitalOceanState(build_seconds=0, action_seconds=0)
    served = ServedApp(double.create_app(state))
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(tmp_path / "s/store.enc"),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "s/master.key"),
        "DIGITALOCEAN_API_URL": served.url,
    }
    get_store(env).put("global/digitalocean", {"api_token": double.DEFAULT_TOKEN})
    extravars = tmp_path / "tenant.yml"
    extravars.write_text(
        "mailfleet_tenant: big-co\nmailfleet_provider: digitalocean\nserver_location: ams3\n"
        "server_plan: s-1vcpu-2gb\nserver_index: 2\nmail_hostname: mail2.big-co.test\n"
    )
    yield state, env, extravars
    served.stop()


def play(playbook: str, env: dict[str, str], extravars: Path, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    full.pop("DIGITALOCEAN_TOKEN", None)
    return subprocess.run(
        [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), "-e", f"@{extravars}",
         "--skip-tags", "ssh", *extra],
        capture_output=True, text=True, env=full, cwd=REPO, timeout=240,
    )


def provision(env: dict[str, str], extravars: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return play("provision.yml", env, extravars, *extra)


def test_provision_orders_a_droplet_sets_its_ptr_and_a_second_run_changes_nothing(setup):
    state, env, extravars = setup
    first = provision(env, extravars)
    assert first.returncode == 0, first.stdout[-3000:]
    (droplet,) = state.droplets.values()
    assert (droplet["status"], droplet["size_slug"], droplet["region"]["slug"]) == (
        "active", "s-1vcpu-2gb", "ams3")
    assert droplet["tags"] == ["mailfleet:mf-big-co-2"]
    assert droplet["name"] == "mail2.big-co.test"  # DigitalOcean's PTR is the droplet's name
    assert len(state.ssh_keys) == 1  # the tenant's key went along with the order
    second = provision(env, extravars)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "changed=0" in second.stdout
    assert state.calls["POST /v2/droplets"] == 1 and len(state.droplets) == 1
    for text in (first.stdout, first.stderr, second.stdout):
        assert double.DEFAULT_TOKEN not in text


@pytest.mark.parametrize(
    ("change", "message"),
    [("mailfleet_provider: linode", "mailfleet_provider is\nhostwinds or digitalocean"),
     ("server_location: tor9", "invalid region")],
)
def test_bad_input_is_refused_and_nothing_is_ordered(setup, change, message):
    state, env, extravars = setup
    key = change.split(":")[0]
    lines = [line for line in extravars.read_text().splitlines() if not line.startswith(key + ":")]
    extravars.write_text("\n".join([*lines, change]) + "\n")
    result = provision(env, extravars)
    assert result.returncode != 0
    assert " ".join(message.split()) in " ".join(result.stdout.split())
    assert state.droplets == {}


def test_resize_goes_through_the_droplet_actions_and_a_second_run_changes_nothing(setup):
    state, env, extravars = setup
    assert provision(env, extravars).returncode == 0
    resize = ["-e", "server_plan=s-2vcpu-4gb", "-e", "server_poll_interval=0.1"]
    first = play("resize.yml", env, extravars, *resize)
    assert first.returncode == 0, first.stdout[-3000:]
    (droplet,) = state.droplets.values()
    assert (droplet["size_slug"], droplet["status"]) == ("s-2vcpu-4gb", "active")
    assert "mf-big-co-2 is active on Basic 4 GB" in first.stdout
    second = play("resize.yml", env, extravars, *resize)
    assert second.returncode == 0 and "changed=0" in second.stdout
    assert [a["type"] for a in state.actions.values()] == ["rename", "power_off", "resize", "power_on"]
    unknown = play("resize.yml", env, extravars, "-e", "server_plan=s-64vcpu-1tb")
    assert unknown.returncode != 0 and "DigitalOcean sells no plan 's-64vcpu-1tb'" in unknown.stdout
    assert droplet["size_slug"] == "s-2vcpu-4gb"


def test_switching_the_ip_of_a_droplet_fails_clearly_and_changes_nothing(setup):
    state, env, extravars = setup
    assert provision(env, extravars).returncode == 0
    (droplet,) = state.droplets.values()
    address = droplet["networks"]["v4"][0]["ip_address"]
    actions = dict(state.actions)
    failed = play("switch_ip.yml", env, extravars, "-e", f"switch_ip_from={address}")
    assert failed.returncode != 0
    assert "keeps a droplet's public IPv4" in " ".join(failed.stdout.split())
    assert droplet["networks"]["v4"][0]["ip_address"] == address and state.actions == actions
