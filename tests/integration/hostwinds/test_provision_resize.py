"""provision.yml, resize and IP change against the Hostwinds double on the testbed, where
add_instance boots a real Debian host (systemd-nspawn) and reports its address as main_ip.

Simulated by the double even here (see testbed/doubles/hostwinds.py): resize changes the plan
fields only; the PTR provision.yml sets is served from the testbed's reverse zone (and withdrawn at
terminate); the IP change adds a real second address on the host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dns.resolver
import dns.reversename
import pytest

from mailfleet.hostwinds import HostwindsClient
from mailfleet.secrets import get_store
from testbed.doubles.hostwinds import DEFAULT_KEY

pytestmark = [pytest.mark.testbed, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
TENANT = "hwtest"
SRVRNAME = f"mf-{TENANT}-1"


@pytest.fixture(scope="module")
def double_url(testbed):
    # Short timings for the double process the testbed starts (it inherits this environment).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAILFLEET_HOSTWINDS_DOUBLE_BUILD_SECONDS", "2")
        patch.setenv("MAILFLEET_HOSTWINDS_DOUBLE_IP_CHANGE_SECONDS", "3")
        patch.setenv("MAILFLEET_HOSTWINDS_DOUBLE_RESIZE_SECONDS", "1")
        url = testbed.start_double("hostwinds") + "/cloud/api.php"
    yield url
    client = HostwindsClient(DEFAULT_KEY, api_url=url)
    found = client.find_instance(SRVRNAME)
    if found:
        client.terminate(found["serviceid"])


@pytest.fixture(scope="module")
def env(tmp_path_factory, double_url):
    base = tmp_path_factory.mktemp("hw")
    secrets = {"MAILFLEET_SECRETS_BACKEND": "local", "MAILFLEET_SECRETS_FILE": str(base / "s/store.enc"),
               "MAILFLEET_MASTER_KEY_FILE": str(base / "s/master.key")}
    get_store(secrets).put("global/hostwinds", {"api_key": DEFAULT_KEY})
    extravars = base / "tenant.yml"
    extravars.write_text(f"mailfleet_tenant: {TENANT}\nserver_location: Dallas\nserver_plan: '101'\n"
                         f"mail_hostname: mail.{TENANT}.test\nserver_api_url: {double_url}\n"
                         f"provision_ssh_key_dir: {base}/keys\nserver_poll_interval: 2\n"
                         "server_wait_timeout: 600\n")
    return {"vars": extravars, "keys": base / "keys", "url": double_url,
            "env": {**os.environ, **secrets, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "ANSIBLE_NOCOLOR": "1", "HOSTWINDS_API_URL": double_url,
                    "HOSTWINDS_API_KEY": DEFAULT_KEY}}


def play(env: dict, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ansible-playbook"), str(path), "-e", f"@{env['vars']}", *args],
                          capture_output=True, text=True, env=env["env"], cwd=REPO, timeout=900)


def ssh_ok(address: str, key: Path) -> bool:
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
         f"root@{address}", "true"], capture_output=True, timeout=60).returncode == 0


def ptr(testbed, address: str, server: str | None = None) -> list[str]:
    """What the testbed's resolver (or ``server``) answers for the PTR of ``address``."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server or testbed.dns.resolver]
    try:
        answer = resolver.resolve(dns.reversename.from_address(address), "PTR", lifetime=5)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return sorted(r.to_text() for r in answer)


def test_provision_boots_a_host_that_answers_ssh_and_is_idempotent(testbed, env):
    first = play(env, REPO / "playbooks/provision.yml")
    assert first.returncode == 0, first.stdout[-4000:]
    client = HostwindsClient(DEFAULT_KEY, api_url=env["url"])
    instance = client.require_instance(SRVRNAME)
    assert instance["status"] == "ACTIVE"
    assert instance["main_ip"] == testbed.host(SRVRNAME).address  # a real testbed host
    assert ssh_ok(instance["main_ip"], env["keys"] / TENANT)  # with the tenant's own key
    assert ptr(testbed, instance["main_ip"]) == [f"mail.{TENANT}.test."]  # the provider's reverse DNS
    second = play(env, REPO / "playbooks/provision.yml")
    assert second.returncode == 0, second.stdout[-4000:]
    assert "changed=0" in second.stdout.split("PLAY RECAP")[-1]
    assert len([i for i in client.list_instances() if i["srvrname"] == SRVRNAME]) == 1


def _task_play(tmp_path: Path, task: str) -> Path:
    """A play of one task; ``task`` starts with the module's short name (mailfleet.fleet.<name>)."""
    path = tmp_path / "play.yml"
    path.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n"
                    "  vars: {ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
                    f"  tasks:\n    - mailfleet.fleet.{task}\n")
    return path


def test_resize_then_idempotent(env, tmp_path):
    path = _task_play(tmp_path, f"server_resize: {{provider: hostwinds, name: {SRVRNAME}, plan: '102', "
                                "poll_interval: 1}")
    first = play(env, path)
    assert first.returncode == 0 and "changed=1" in first.stdout, first.stdout[-3000:]
    second = play(env, path)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]


def test_main_ip_change_answers_ssh_and_is_idempotent(testbed, env, tmp_path):
    client = HostwindsClient(DEFAULT_KEY, api_url=env["url"])
    old = client.require_instance(SRVRNAME)["main_ip"]
    path = _task_play(tmp_path, f"server_main_ip: {{provider: hostwinds, name: {SRVRNAME}, replace: '{old}', "
                                "poll_interval: 1, wait_timeout: 60}")
    first = play(env, path)
    assert first.returncode == 0 and "changed=1" in first.stdout, first.stdout[-3000:]
    new = client.require_instance(SRVRNAME)["main_ip"]
    assert new != old and new.startswith(f"198.18.{testbed.instance}.")
    assert ssh_ok(new, env["keys"] / TENANT)
    second = play(env, path)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]


def test_terminate_stops_the_host_and_withdraws_its_ptr(testbed, env, tmp_path):
    instance = HostwindsClient(DEFAULT_KEY, api_url=env["url"]).require_instance(SRVRNAME)
    named = [entry["ip"] for entry in instance["ips"] if entry.get("rdns")]
    assert named and all(ptr(testbed, address) == [f"mail.{TENANT}.test."] for address in named)
    path = _task_play(tmp_path, f"hostwinds_instance: {{name: {SRVRNAME}, state: absent}}")
    assert play(env, path).returncode == 0
    assert SRVRNAME not in {h.name for h in testbed.hosts()}
    # Withdrawn from the reverse zone itself: the resolver may still serve its cached answer for a
    # few seconds (its cache keeps answers up to 5 s), as any resolver would until the TTL ends.
    primary = testbed.layout.dns_primary
    assert [ptr(testbed, address, primary) for address in named] == [[] for _ in named]
