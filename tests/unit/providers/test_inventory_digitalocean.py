"""inventory/digitalocean.yml, the repository's DigitalOcean inventory source (the bundle's
community.digitalocean plugin), listed end to end with `ansible-inventory --list` against the
DigitalOcean double: mailfleet's active droplets only, over several pages, with the variables
and groups site.yml's plays use; the token from the secrets store, in no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mailfleet.digitalocean import DigitalOceanClient
from mailfleet.providers.digitalocean import DigitalOceanProvider
from mailfleet.secrets import get_store
from testbed.doubles import digitalocean as double
from webapp.testing import ServedApp

pytestmark = [pytest.mark.unit, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@pytest.fixture
def served() -> Iterator[tuple[double.DigitalOceanState, str]]:
    state = double.DigitalOceanState(build_seconds=0, action_seconds=0)
    app = ServedApp(double.create_app(state))
    yield state, app.url
    app.stop()


def listed(tmp_path: Path, api_url: str, **config: object) -> subprocess.CompletedProcess[str]:
    """The repository's source, pointed at the double, as an engineer lists it."""
    source = yaml.safe_load((REPO / "inventory/digitalocean.yml").read_text())
    path = tmp_path / "fleet.digitalocean.yml"
    path.write_text(yaml.safe_dump({**source, "baseurl": f"{api_url}/v2", **config}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "DO_", "DIGITALOCEAN_"))}
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(tmp_path / "s/store.enc"),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "s/master.key"),
    })
    get_store(env).put("global/digitalocean", {"api_token": double.DEFAULT_TOKEN})
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=200)


def unwrap(value: object) -> object:
    """ansible-core 2.19 prints untrusted strings as {"__ansible_unsafe": "..."}."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {
            k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _droplet(state: double.DigitalOceanState, name: str, label: str | None, region: str = "ams3") -> dict:
    tags = [f"mailfleet:{label}"] if label else []
    return state.create({"name": name, "region": region, "size": "s-1vcpu-1gb", "image": "debian-12-x64",
                         "tags": tags})


def test_mailfleets_active_droplets_are_listed_with_their_variables_and_groups(tmp_path, served):
    state, url = served
    for n in range(1, 4):
        _droplet(state, f"mf-t{n:03d}-1", f"mf-t{n:03d}-1")
    ours = _droplet(state, "mf-big-co-2", "mf-big-co-2", "sgp1")
    _droplet(state, "someone-elses", None)  # not ordered by mailfleet: no label tag
    provider = DigitalOceanProvider(DigitalOceanClient(double.DEFAULT_TOKEN, url, poll_interval=0))
    acme = provider.wait_active(ours["id"], timeout=5)
    provider.set_ptr(acme["provider_id"], acme["public_ipv4"], "mail2.big-co.test")
    state.build_seconds = 600
    _droplet(state, "mf-late-1", "mf-late-1")  # still new

    result = listed(tmp_path, url, pagination=2)  # three pages of the six droplets
    assert result.returncode == 0, result.stderr[-3000:]
    inventory = unwrap(json.loads(result.stdout))
    hostvars = inventory["_meta"]["hostvars"]
    assert len(hostvars) == 4 and "someone-elses" not in hostvars and "mf-late-1" not in hostvars
    host = hostvars["mail2.big-co.test"]
    assert {k: host[k] for k in ("ansible_host", "ansible_user", "mailfleet_tenant", "mail_hostname",
                                 "mailfleet_provider", "server_name", "ansible_ssh_private_key_file")} == {
        "ansible_host": acme["public_ipv4"], "ansible_user": "root", "mailfleet_tenant": "big-co",
        "mail_hostname": "mail2.big-co.test", "mailfleet_provider": "digitalocean",
        "server_name": "mf-big-co-2", "ansible_ssh_private_key_file": "~/.ssh/mailfleet/big-co"}
    assert host["mailfleet_provider_id"] == acme["provider_id"]
    assert inventory["tenant_big_co"]["hosts"] == ["mail2.big-co.test"]
    assert "mail2.big-co.test" in inventory["location_sgp1"]["hosts"]
    assert len(inventory["digitalocean"]["hosts"]) == 4
    assert state.calls["GET /v2/droplets"] == 3
    assert double.DEFAULT_TOKEN not in result.stdout + result.stderr


def test_a_wrong_token_fails_clearly(tmp_path, served):
    _, url = served
    result = listed(tmp_path, url, oauth_token="dop_v1_revoked")
    assert result.returncode != 0 or "Unable to parse" in result.stderr
    assert "401" in result.stderr and "dop_v1_revoked" not in result.stderr
