"""The testbed's parts are real: hosts boot systemd and answer Ansible, DNS updates propagate from
primary to secondary with the set delay, Pebble issues through DNS-01, Redis persists."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import dns.message
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
import redis

pytestmark = pytest.mark.testbed


def _txt(server: str, name: str) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, dns.rdatatype.TXT), server, timeout=2)
    return [b"".join(r.strings).decode() for rrset in answer.answer for r in rrset]


def _update_txt(tb, name: str, value: str) -> None:
    info = tb.dns
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    update = dns.update.UpdateMessage("example.test", keyring=keyring, keyalgorithm=info.tsig_algorithm)
    update.replace(name + ".", 60, "TXT", f'"{value}"')
    response = dns.query.tcp(update, info.primary, timeout=5)
    assert response.rcode() == 0, dns.rcode.to_text(response.rcode())


def test_two_hosts_run_systemd_and_answer_ansible(testbed, testbed_hosts, ansible_env, tmp_path, repo_root):
    hosts = testbed_hosts("alpha", "beta")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "".join(
            f"{h.name} ansible_host={h.address} ansible_user=root ansible_ssh_private_key_file={h.ssh_key}\n"
            for h in hosts
        )
    )
    result = subprocess.run(
        ["ansible", "all", "-i", str(inventory), "-m", "ansible.builtin.ping", "-o"],
        capture_output=True,
        text=True,
        env=ansible_env,
        cwd=repo_root,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2
    for host in hosts:
        state = host.ssh("systemctl is-system-running --wait", check=False).stdout.strip()
        assert state == "running", f"{host.name}: {state}"
        assert host.ssh("cat /proc/1/comm").stdout.strip() == "systemd"
    # Each host has its own identity: machine-id and SSH host key differ.
    ids = {h.ssh("cat /etc/machine-id").stdout for h in hosts}
    keys = {h.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout for h in hosts}
    assert len(ids) == 2 and len(keys) == 2


def test_rfc2136_update_reaches_secondary_after_the_set_delay(testbed):
    info = testbed.dns
    _update_txt(testbed, "fast.example.test", "v1")
    deadline = time.monotonic() + 5
    while _txt(info.secondary, "fast.example.test") != ["v1"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _txt(info.secondary, "fast.example.test") == ["v1"]

    # A delay longer than the test: the NOTIFY is held, so the secondary must not hear of the change
    # however slow this machine is (no clock reading decides the outcome).
    testbed.set_secondary_delay(3600)
    try:
        held = f"held-{uuid.uuid4().hex[:8]}.example.test"
        _update_txt(testbed, held, "lagging")
        assert _txt(info.primary, held) == ["lagging"]
        time.sleep(2)  # time enough for an unheld NOTIFY and transfer (see the first part)
        assert _txt(info.secondary, held) == []
    finally:
        testbed.set_secondary_delay(0)
    # With the delay back at 0 the next NOTIFY passes at once and the zone, held change included,
    # reaches the secondary.
    _update_txt(testbed, f"after-{uuid.uuid4().hex[:8]}.example.test", "v1")
    deadline = time.monotonic() + 15
    while _txt(info.secondary, held) != ["lagging"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _txt(info.secondary, held) == ["lagging"]


def test_resolver_serves_test_zones_and_refuses_the_rest(testbed):
    info = testbed.dns
    _update_txt(testbed, "via-resolver.example.test", "seen")
    assert _txt(info.resolver, "via-resolver.example.test") == ["seen"]
    answer = dns.query.udp(dns.message.make_query("example.com", dns.rdatatype.A), info.resolver, timeout=2)
    assert answer.rcode() == dns.rcode.REFUSED


def test_added_zone_is_served_by_both_servers(testbed):
    testbed.add_zone("tenant-a.test")
    for server in (testbed.dns.primary, testbed.dns.secondary, testbed.dns.resolver):
        answer = dns.query.udp(dns.message.make_query("tenant-a.test", dns.rdatatype.SOA), server, timeout=2)
        assert answer.answer, server


def test_pebble_issues_a_certificate_through_dns01(testbed, ansible_env, tmp_path, repo_root):
    playbook = repo_root / "tests/integration/testbed/acme_dns01.yml"
    info = testbed.dns
    domain = f"acme-{uuid.uuid4().hex[:8]}.example.test"
    extra = {
        "acme_directory": testbed.acme.directory_url,
        "acme_ca": str(testbed.acme.root_ca_path),
        "workdir": str(tmp_path),
        "dns_server": info.primary,
        "tsig_name": info.tsig_name,
        "tsig_algorithm": info.tsig_algorithm,
        "domain": domain,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    env = {**ansible_env, "TSIG_SECRET": info.tsig_secret}
    result = subprocess.run(
        ["ansible-playbook", str(playbook), "-e", f"@{tmp_path / 'vars.json'}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo_root,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(testbed.acme.issuing_root_path),
            "-untrusted",
            str(tmp_path / "chain.pem"),
            str(tmp_path / "cert.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    names = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "cert.pem")],
        capture_output=True,
        text=True,
    ).stdout
    assert f"DNS:{domain}" in names
    assert _txt(info.primary, f"_acme-challenge.{domain}") == []  # the playbook removed its challenge


def test_redis_answers_and_persists_across_a_restart(testbed):
    client = redis.Redis.from_url(testbed.redis_url)
    client.set("testbed:persist", "kept")
    client.close()
    testbed.restart("redis")
    client = redis.Redis.from_url(testbed.redis_url)
    assert client.get("testbed:persist") == b"kept"
    assert client.config_get("appendonly")["appendonly"] == "yes"
