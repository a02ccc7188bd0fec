"""Host keys: ansible.cfg checks strictly, each run trusts only its tenant's pinned keys, and what
provision.yml pins at first contact is recorded with the server."""

from __future__ import annotations

import configparser
import shlex

import pytest
from sqlalchemy import select

from jobs import hostkeys
from webapp.config import REPO_DIR
from webapp.extensions import db
from webapp.models import RunEvent, RunStatus, Server, ServerStatus
from webapp.services import runs

pytestmark = pytest.mark.unit

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"


@pytest.fixture
def playbook_flavour() -> str:
    return "hostkeys"


def test_ansible_cfg_never_turns_host_key_checking_off():
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO_DIR / "ansible.cfg")
    assert config.getboolean("defaults", "host_key_checking") is True
    options = shlex.split(config.get("ssh_connection", "ssh_args"))
    assert "StrictHostKeyChecking=yes" in options
    assert not [o for o in options if o.startswith("UserKnownHostsFile")]  # each run names its own


def test_known_hosts_of_a_run_hold_only_pinned_keys_of_its_servers(scope, acme, globex):
    pinned = Server(tenant_id=acme.id, name="mf-acme-1", public_ipv4="198.18.17.10",
                    status=ServerStatus.ACTIVE, ssh_host_keys=f"{ED25519}\n{RSA}")
    unpinned = Server(tenant_id=acme.id, name="mf-acme-2", public_ipv4="198.18.17.11",
                      status=ServerStatus.ACTIVE)
    db.session.add_all([pinned, unpinned])
    db.session.commit()
    text = hostkeys.known_hosts([pinned, unpinned])
    assert text == f"mf-acme-1,198.18.17.10 {ED25519}\nmf-acme-1,198.18.17.10 {RSA}\n"


def test_provisioning_pins_what_provision_yml_read_once(acme):
    server = Server(tenant_id=acme.id, name="mf-acme-1", public_ipv4="198.18.17.10")
    run_file = (
        f"mf-acme-1,198.18.17.10 {ED25519}\n"
        f"mf-acme-1,198.18.17.10 {RSA}\n"
        f"mf-other-1,198.18.17.99 {ED25519[:-4]}AAAA\n"
        "# a comment\n"
    )
    assert hostkeys.pin_from_run(server, run_file) is True
    assert server.ssh_host_keys == f"{ED25519}\n{RSA}"
    # pinned once: a later provisioning run does not replace the keys
    assert hostkeys.pin_from_run(server, f"mf-acme-1 {ED25519[:-4]}BBBB\n") is False
    assert server.ssh_host_keys == f"{ED25519}\n{RSA}"


def test_each_run_gets_its_tenants_known_hosts(scope, acme, globex, work):
    db.session.add_all([
        Server(tenant_id=acme.id, name="mf-acme-1", public_ipv4="198.18.17.10", status=ServerStatus.ACTIVE,
               ssh_host_keys=ED25519),
        Server(tenant_id=globex.id, name="mf-globex-1", public_ipv4="198.18.17.20",
               status=ServerStatus.ACTIVE, ssh_host_keys=RSA),
    ])
    db.session.commit()
    run = runs.submit_run(scope, acme, "site")
    work()
    assert run.status == RunStatus.SUCCESSFUL, run.failure_reason
    out = "\n".join(db.session.execute(select(RunEvent.stdout).where(RunEvent.run_id == run.id)).scalars())
    assert f"known_hosts: mf-acme-1,198.18.17.10 {ED25519}" in out
    assert "mf-globex-1" not in out and "198.18.17.20" not in out
    assert "-o UserKnownHostsFile=" in out
