"""dns role on the testbed: converge, changed=0 on the second run, then verify from outside with
dnspython against the BIND primary and secondary (RFC 2136 provider) and against the Cloudflare
API double (cloudflare provider)."""

from __future__ import annotations

import json
import secrets
import threading

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest
from roletest import run_playbook
from werkzeug.serving import make_server

from testbed.doubles.cloudflare import CloudflareState, create_app
from testbed.site_file import dns_update_vars

pytestmark = pytest.mark.testbed

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "q" * 330
PLAY = """
- name: dns role under test
  hosts: all
  gather_facts: false
  roles:
    - role: dns
"""


def served(server: str, name: str, rtype: str) -> tuple[int, list[str]]:
    query = dns.message.make_query(name, rtype)
    response, _ = dns.query.udp_with_fallback(query, server, timeout=3)
    values = sorted(
        r.to_text()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.from_text(rtype)
        for r in rrset
    )
    return response.rcode(), values


@pytest.fixture(scope="module")
def zones(testbed):
    tag = secrets.token_hex(3)
    mail, reports = f"mf{tag}.test", f"rua{tag}.test"
    testbed.add_zone(mail)
    testbed.add_zone(reports)
    return mail, reports


def write_play(tmp_path, host: str, host_vars: dict) -> tuple:
    (tmp_path / "play.yml").write_text(PLAY)
    inventory = {"all": {"hosts": {host: {"ansible_connection": "local", **host_vars}}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    return tmp_path / "play.yml", tmp_path / "inventory.json"


def test_rfc2136_converge_idempotent_verified_on_both_servers(testbed, zones, tmp_path):
    mail, reports = zones
    info = testbed.dns
    host = f"mail.{mail}"
    keyring = dns.tsigkeyring.from_text({info.tsig_name: info.tsig_secret})
    # Records someone else owns, in the very RRsets the role writes to.
    update = dns.update.Update(mail, keyring=keyring, keyalgorithm=info.tsig_algorithm)
    update.add(f"backup.{mail}.", 300, "A", "198.18.15.99")
    update.add(f"{mail}.", 300, "TXT", '"google-site-verification=keepme"')
    update.add(f"{mail}.", 300, "MX", f"20 backup.{mail}.")
    assert dns.query.tcp(update, info.primary, timeout=5).rcode() == dns.rcode.NOERROR

    play, inventory = write_play(tmp_path, host, {"ansible_host": "198.18.15.10"})
    domain = {"name": mail, "dkim_public_key": KEY, "dmarc_rua": f"dmarc@{reports}"}
    extra = {
        **dns_update_vars(testbed),
        "dns_rfc2136_key_secret": info.tsig_secret,
        "dns_tlsa_records": ["3 1 1 " + "ab" * 32],
        "dns_domains": [domain],
    }
    first = run_playbook(play, inventory, extra_vars=extra).assert_ok()
    assert first.recap[host].changed >= 1
    run_playbook(play, inventory, extra_vars=extra).assert_idempotent()

    expected = {
        (host, "A"): ["198.18.15.10"],
        (mail, "MX"): [f"10 {host}.", f"20 backup.{mail}."],
        (f"_imaps._tcp.{mail}", "SRV"): [f"10 1 993 {host}."],
        (f"_submission._tcp.{mail}", "SRV"): [f"20 1 587 {host}."],
        (f"autoconfig.{mail}", "CNAME"): [f"{host}."],
        (f"_25._tcp.{host}", "TLSA"): ["3 1 1 " + "ab" * 32],
        (f"{mail}._report._dmarc.{reports}", "TXT"): ['"v=DMARC1"'],
        (f"_smtp._tls.{mail}", "TXT"): [f'"v=TLSRPTv1; rua=mailto:postmaster@{mail}"'],
        (f"mta-sts.{mail}", "A"): ["198.18.15.10"],
    }
    for (name, rtype), values in expected.items():
        on_primary = served(info.primary, name, rtype)
        assert on_primary == (dns.rcode.NOERROR, sorted(values)), (name, rtype, on_primary)
        assert served(info.secondary, name, rtype) == on_primary, (name, rtype)
    txt = served(info.secondary, mail, "TXT")[1]
    assert '"google-site-verification=keepme"' in txt and f'"v=spf1 mx a:{host} ~all"' in txt
    dkim = "".join(served(info.secondary, f"dkim._domainkey.{mail}", "TXT")[1]).replace('" "', "")
    assert KEY in dkim
    manifest = served(info.primary, f"_mailfleet.{mail}", "TXT")[1]
    assert manifest and all(v.startswith('"mailfleet1 ') for v in manifest)

    # Stop publishing SRV and TLS-RPT: ours go from both servers, foreign records stay.
    domain["publish"] = {"srv": False, "tls_rpt": False}
    run_playbook(play, inventory, extra_vars=extra).assert_ok()
    run_playbook(play, inventory, extra_vars=extra).assert_idempotent()
    for server in (info.primary, info.secondary):
        assert served(server, f"_imaps._tcp.{mail}", "SRV")[1] == []
        assert served(server, f"_smtp._tls.{mail}", "TXT")[1] == []
        assert served(server, mail, "MX")[1] == sorted([f"10 {host}.", f"20 backup.{mail}."])
        assert '"google-site-verification=keepme"' in served(server, mail, "TXT")[1]

    # The whole domain absent: everything it owned goes, the foreign records remain.
    domain["state"] = "absent"
    run_playbook(play, inventory, extra_vars=extra).assert_ok()
    for server in (info.primary, info.secondary):
        assert served(server, mail, "MX")[1] == [f"20 backup.{mail}."]
        assert served(server, mail, "TXT")[1] == ['"google-site-verification=keepme"']
        assert served(server, f"{mail}._report._dmarc.{reports}", "TXT")[1] == []
        assert served(server, f"_mailfleet.{mail}", "TXT")[1] == []


def test_bad_input_fails_before_any_change(testbed, zones, tmp_path):
    mail, _ = zones
    info = testbed.dns
    play, inventory = write_play(tmp_path, f"bad.{mail}", {"ansible_host": "198.18.15.11"})
    extra = {
        "dns_rfc2136_server": info.primary,
        "dns_rfc2136_key_name": info.tsig_name,
        "dns_rfc2136_key_secret": info.tsig_secret,
        "dns_wait_enabled": False,
        "dns_domains": [{"name": f"bad.{mail}", "dkim_public_key": KEY, "dmarc_policy": "block"}],
    }
    run = run_playbook(play, inventory, extra_vars=extra)
    assert run.returncode != 0 and "dmarc_policy must be none, quarantine or reject" in run.stdout
    assert info.tsig_secret not in run.stdout
    assert served(info.primary, f"bad.{mail}", "A")[1] == []


@pytest.fixture
def cloudflare_double():
    state = CloudflareState(tokens={"cf-test-token"})
    state.add_zone("cf.test")
    server = make_server("127.0.0.1", 0, create_app(state), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/client/v4", state
    server.shutdown()


def test_cloudflare_provider_against_the_double(cloudflare_double, tmp_path):
    base_url, state = cloudflare_double
    zone_id = next(iter(state.zones))
    host = "mail.cf.test"
    state.records[zone_id]["foreign"] = {
        "id": "foreign",
        "zone_id": zone_id,
        "zone_name": "cf.test",
        "name": "cf.test",
        "type": "TXT",
        "content": "google-site-verification=keepme",
        "ttl": 300,
        "proxied": False,
        "proxiable": False,
        "created_on": "2024-01-01T00:00:00Z",
        "modified_on": "2024-01-01T00:00:00Z",
    }
    play, inventory = write_play(tmp_path, host, {"ansible_host": "198.18.15.12"})
    domain = {"name": "cf.test", "dkim_public_key": KEY}
    extra = {
        "dns_provider": "cloudflare",
        "dns_cloudflare_api_token": "cf-test-token",
        "dns_cloudflare_api_base_url": base_url,
        "dns_wait_enabled": False,
        "dns_domains": [domain],
    }
    first = run_playbook(play, inventory, extra_vars=extra).assert_ok()
    assert "cf-test-token" not in first.stdout
    run_playbook(play, inventory, extra_vars=extra).assert_idempotent()
    records = list(state.records[zone_id].values())
    got = {(r["name"], r["type"]) for r in records}
    assert {
        ("cf.test", "MX"),
        (host, "A"),
        ("_imaps._tcp.cf.test", "SRV"),
        ("_mailfleet.cf.test", "TXT"),
        ("dkim._domainkey.cf.test", "TXT"),
        ("autoconfig.cf.test", "CNAME"),
    } <= got
    assert not any(r["proxied"] for r in records)
    mx = next(r for r in records if r["type"] == "MX")
    assert (mx["content"], mx["priority"]) == (host, 10)

    domain["publish"] = {"autoconfig": False}
    run_playbook(play, inventory, extra_vars=extra).assert_ok()
    names = {r["name"] for r in state.records[zone_id].values()}
    assert "autoconfig.cf.test" not in names and "autodiscover.cf.test" not in names
    assert "foreign" in state.records[zone_id]

    bad = run_playbook(play, inventory, extra_vars={**extra, "dns_cloudflare_api_token": "wrong"})
    assert bad.returncode != 0 and "Authentication error" in bad.stdout
