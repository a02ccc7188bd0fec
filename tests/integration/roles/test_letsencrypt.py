"""letsencrypt role on a testbed host against Pebble: converge, changed=0 on the second run, then
verify from outside: the deployed chain validates against Pebble's issuing root (fetched from its
management endpoint), the names match, the key matches, the challenge records are gone. Then the
daily renewal playbook replaces a certificate that is near expiry."""

from __future__ import annotations

import json
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta

import dns.message
import dns.query
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store
from roletest import REPO, run_playbook
from selfsigned import expiring

from mailfleet.secrets.generators import acme_account_key
from testbed.site_file import dns_update_vars, pebble_vars

pytestmark = pytest.mark.testbed

PLAY = """
- name: letsencrypt role under test
  hosts: all
  gather_facts: false
  roles:
    - role: letsencrypt
"""
NAMES = ["mail.example.test", "mta-sts.example.test"]


def test_certificate_from_pebble(testbed, start_hosts, tmp_path):
    (host,) = start_hosts("le1")
    info, acme = testbed.dns, testbed.acme
    (tmp_path / "play.yml").write_text(PLAY)
    inventory = {
        "all": {
            "hosts": {
                host.name: {
                    "ansible_host": host.address,
                    "ansible_user": "root",
                    "ansible_ssh_private_key_file": str(host.ssh_key),
                }
            }
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    extra = {
        **dns_update_vars(testbed),
        "dns_rfc2136_key_secret": info.tsig_secret,
        **pebble_vars(testbed),
        "letsencrypt_names": NAMES,
        "letsencrypt_reload_enabled": False,
        "letsencrypt_account_key_content": acme_account_key()["private_key"],
    }
    play, inv = tmp_path / "play.yml", tmp_path / "inventory.json"
    first = run_playbook(play, inv, extra_vars=extra).assert_ok()
    assert first.recap[host.name].changed >= 1
    second = run_playbook(play, inv, extra_vars=extra).assert_idempotent()
    assert "Order the certificate" not in second.stdout  # more than 30 days left: nothing ordered

    chain_pem = host.ssh("cat /mailu/certs/cert.pem").stdout
    key_pem = host.ssh("cat /mailu/certs/key.pem").stdout
    assert host.ssh("stat -c %a /mailu/certs/key.pem").stdout.strip() == "600"
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    leaf, intermediates = chain[0], chain[1:]

    # Pebble's issuing root, from its management endpoint, over TLS verified with the testbed CA.
    context = ssl.create_default_context(cafile=str(acme.root_ca_path))
    with urllib.request.urlopen(f"{acme.management_url}/roots/0", context=context, timeout=10) as response:
        root = x509.load_pem_x509_certificate(response.read())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(NAMES[0]))
    verifier.verify(leaf, intermediates)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, spki) == leaf.public_key().public_bytes(
        serialization.Encoding.DER, spki
    )
    for server in (info.primary, info.secondary):
        for name in NAMES:
            response, _ = dns.query.udp_with_fallback(
                dns.message.make_query(f"_acme-challenge.{name}", "TXT"), server, timeout=3
            )
            assert not response.answer, (server, name)

    # The daily renewal run (playbooks/renew_certificates.yml, what rq cron submits) replaces a
    # certificate with fewer than 30 days left, keeping the key (so the published TLSA stays valid).
    near_expiry = expiring(key, NAMES, days_left=10)
    host.ssh(f"printf '%s' '{near_expiry}' > /mailu/certs/cert.pem")
    renewal = run_playbook(REPO / "playbooks" / "renew_certificates.yml", inv, extra_vars=extra).assert_ok()
    assert "Order the certificate" in renewal.stdout and renewal.recap[host.name].changed >= 1
    renewed = x509.load_pem_x509_certificates(host.ssh("cat /mailu/certs/cert.pem").stdout.encode())
    # A new verifier: one is bound to the time it was built, before this certificate existed.
    PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(NAMES[0])).verify(
        renewed[0], renewed[1:]
    )
    assert renewed[0].not_valid_after_utc - datetime.now(UTC) > timedelta(days=30)
    assert host.ssh("cat /mailu/certs/key.pem").stdout == key_pem
    run_playbook(REPO / "playbooks" / "renew_certificates.yml", inv, extra_vars=extra).assert_idempotent()

