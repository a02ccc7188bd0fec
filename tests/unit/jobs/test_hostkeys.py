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
    # ansible-runner turns host key checking off unless told: ssh's options would still check
    # under the stock strategy, but Mitogen's connection puts its own off-switch first.
    assert "host_key_checking: True" in out


def test_a_refused_key_of_a_pinned_server_is_a_changed_key_under_either_strategy(scope, acme):
    """ssh names a changed key; Mitogen's strategy reports every key ssh refused alike, which for a
    server the run pinned is a changed one. An unpinned server or another failure is no change."""
    mitogen = ("EOF on stream; Host key checking is enabled, and SSH reported an unrecognized or "
               "mismatching host key.")
    failures = {
        "mf-acme-1": "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@ Host key verification failed.",
        "mf-acme-2": mitogen,
        "mf-acme-3": mitogen,  # not pinned in the run: unknown, not changed
        "mf-acme-4": "ssh: connect to host 198.18.17.13 port 22: Connection refused",
    }
    run = runs.submit_run(scope, acme, "site")
    db.session.add_all(
        RunEvent(run_id=run.id, counter=n, event="runner_on_unreachable", host_name=host,
                 event_data={"res": {"msg": message, "unreachable": True}})
        for n, (host, message) in enumerate(failures.items(), start=1)
    )
    db.session.commit()
    pinned = "".join(f"mf-acme-{i},198.18.17.1{i} {ED25519}\n" for i in (1, 2, 4))
    assert sorted(hostkeys.changed_hosts(run.id, pinned)) == ["mf-acme-1", "mf-acme-2"]
    assert hostkeys.changed_hosts(run.id, "") == {}
