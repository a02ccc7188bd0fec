"""roles/mailu on a testbed host: converge, idempotence (changed=0), verification from outside.

What runs for real: the engine packages from Debian (docker.io, docker-compose v1, iptables), the
/mailu tree, mailu.env (secrets from the local secrets store through the mailfleet.fleet.secret lookup),
the compose file checked by `docker-compose config -q` on the host, and every admin API step with
mailfleet's client. What cannot run here: compose up (no registry, no dockerd inside
systemd-nspawn), so the API steps talk to the Mailu API double (testbed.start_double("mailu")),
where the test registers the server the way `compose up` with INITIAL_ADMIN_* would create it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path

import pytest
import requests
from roletest import run_playbook, write_inventory

from mailfleet.dns import build_units, mta_sts_policy
from mailfleet.secrets.config import get_store
from mailfleet.secrets.tenant import ensure_tenant_secrets

pytestmark = pytest.mark.testbed

TENANT = "acme"
MAIL_HOST = "mail.acme.test"


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory) -> dict[str, str]:
    """A local secrets store of its own, with the tenant's secrets created as tenant creation does."""
    directory = tmp_path_factory.mktemp("secrets")
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(directory / "store.enc"),
        "MAILFLEET_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    ensure_tenant_secrets(TENANT, get_store(env))
    return env


@pytest.fixture(scope="module")
def mailu_secrets(secrets_env) -> dict[str, str]:
    return get_store(secrets_env).get(f"tenants/{TENANT}/mailu")


@pytest.fixture(scope="module")
def double(testbed, mailu_secrets):
    """The Mailu API double process, without this tenant's server: the host's testbed mail stack
    registers it (in place of compose up) with the token and first admin the role wrote to mailu.env."""
    root = testbed.start_double("mailu")
    requests.delete(f"{root}/_double/servers/{MAIL_HOST}", timeout=5)
    yield root
    requests.delete(f"{root}/_double/servers/{MAIL_HOST}", timeout=5)


@pytest.fixture(scope="module")
def host(start_hosts):
    (mailu1,) = start_hosts("mailu1")
    return mailu1


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, host, double, secrets_env, monkeypatch_module):
    """Write the play and inventory; the runs themselves happen in the tests, in order."""
    for key, value in secrets_env.items():
        monkeypatch_module.setenv(key, value)
    work = tmp_path_factory.mktemp("mailu-role")
    records = work / "dns-records.json"
    playbook = work / "mailu.yml"
    playbook.write_text(f"""
- name: Mailu on a testbed host
  hosts: all
  gather_facts: true
  roles:
    - role: mailu
  post_tasks:
    - name: Hand the exported records to the test (controller side)
      ansible.builtin.copy:
        content: "{{{{ mailu_dns_records | to_json }}}}"
        dest: {records}
        mode: "0600"
      delegate_to: localhost
      become: false
      changed_when: false
""")
    group_vars = {
        "mailu_tenant": TENANT,
        "mailu_domain": "acme.test",
        "mailu_hostnames": [MAIL_HOST],
        "mailu_engine_source": "debian",     # Docker's repository is not reachable here
        # Only the checker: docker.io's install spends 2+ minutes in failing dockerd starts here.
        "mailu_engine_packages": ["docker-compose"],
        "mailu_compose_up_enabled": False,   # no registry, no dockerd in systemd-nspawn
        "mailu_api_url": f"{double}/{MAIL_HOST}/api/v1",
        "mailu_domains": [{"name": "acme.test"}, {"name": "shop.test", "max_users": 5, "comment": "shop"}],
        "mailu_aliases": [{"email": "sales@shop.test", "destination": ["admin@acme.test"]}],
    }
    inventory = write_inventory(work, [host], group="tenant_acme", group_vars=group_vars)
    return {"playbook": playbook, "inventory": inventory, "records": records}


@pytest.fixture(scope="module")
def monkeypatch_module():
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


def _server_state(double: str, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{double}/{MAIL_HOST}/api/v1"
    return {
        "domains": {d["name"]: d for d in requests.get(f"{base}/domain", headers=headers, timeout=5).json()},
        "users": [u["email"] for u in requests.get(f"{base}/user", headers=headers, timeout=5).json()],
        "aliases": {a["email"]: a["destination"]
                    for a in requests.get(f"{base}/alias", headers=headers, timeout=5).json()},
    }


def test_converge_then_second_run_changes_nothing(deployment, mailu_secrets):
    first = run_playbook(deployment["playbook"], deployment["inventory"]).assert_ok()
    print(f"\nmailu converge: {first.seconds:.1f} s, recap {first.recap}")
    for secret in mailu_secrets.values():
        assert secret not in first.stdout and secret not in first.stderr
    second = run_playbook(deployment["playbook"], deployment["inventory"]).assert_idempotent()
    print(f"mailu second run: {second.seconds:.1f} s")


def test_files_on_the_host(deployment, host, mailu_secrets):
    listing = host.ssh("stat -c '%a %U %n' /mailu/mailu.env /mailu/docker-compose.yml", check=False)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split("\n")[:2] == [
        "600 root /mailu/mailu.env", "644 root /mailu/docker-compose.yml"]
    lines = host.ssh("grep -v '^#' /mailu/mailu.env").stdout.split("\n")
    env = dict(line.split("=", 1) for line in lines if line)
    assert env["API"] == "true" and env["TLS_FLAVOR"] == "cert" and env["INITIAL_ADMIN_MODE"] == "ifmissing"
    assert env["HOSTNAMES"] == MAIL_HOST and env["DOMAIN"] == "acme.test"
    assert env["API_TOKEN"] == mailu_secrets["api_token"]  # from the secrets store, not a default
    assert env["SECRET_KEY"] == mailu_secrets["secret_key"]
    assert env["MESSAGE_RATELIMIT"] == "200/day" and env["AUTH_RATELIMIT_IP"] == "5/hour"


def test_mta_sts_policy_of_each_domain_is_what_the_dns_record_announces(deployment, host):
    """The policy files are the text whose hash the dns role publishes as the `_mta-sts` id, in
    testing mode, where the front's location (the override it includes) serves them."""
    records = {u.owner: u for u in build_units(host=MAIL_HOST, domains=[
        {"name": d, "dkim_public_key": "AAAA"} for d in ("acme.test", "shop.test")])[1:]}
    for domain, unit in records.items():
        # base64: the bytes exactly, CRLF line ends included
        raw = host.ssh(f"base64 -w0 /mailu/overrides/nginx/mta-sts/mta-sts.{domain}.txt").stdout
        served = base64.b64decode(raw).decode()
        assert served == unit.extras["mta_sts_policy"] == mta_sts_policy("testing", [MAIL_HOST], 604800)
        assert hashlib.sha256(served.encode()).hexdigest()[:20] == unit.extras["mta_sts_id"]
    location = host.ssh("cat /mailu/overrides/nginx/mta-sts.conf").stdout
    assert "location = /.well-known/mta-sts.txt" in location
    assert "alias /overrides/mta-sts/$host.txt;" in location
    listing = host.ssh("ls /mailu/overrides/nginx/mta-sts").stdout.split()
    assert listing == ["mta-sts.acme.test.txt", "mta-sts.shop.test.txt"]


def test_compose_file_validates_and_the_check_is_real(deployment, host):
    ok = host.ssh("docker-compose -p mailu -f /mailu/docker-compose.yml config -q", check=False)
    assert ok.returncode == 0, ok.stderr
    compose = "docker-compose -p mailu -f /mailu/docker-compose.yml"
    services = host.ssh(f"{compose} config --services").stdout.split()
    assert {"front", "admin", "imap", "smtp", "antispam", "redis", "resolver"} <= set(services)
    images = host.ssh("grep -ho 'ghcr.io/mailu/[a-z]*:[0-9.]*' /mailu/docker-compose.yml | sort -u").stdout
    assert "ghcr.io/mailu/admin:2024.06" in images
    # The same checker refuses a broken copy, so a passing check means something.
    broken = host.ssh(
        "sed 's/^    restart: always/    restart: [always/' /mailu/docker-compose.yml > /tmp/broken.yml && "
        "docker-compose -p mailu -f /tmp/broken.yml config -q", check=False
    )
    assert broken.returncode != 0


def test_api_state_in_the_double(deployment, double, mailu_secrets):
    state = _server_state(double, mailu_secrets["api_token"])
    assert set(state["domains"]) == {"acme.test", "shop.test"}
    assert state["domains"]["shop.test"]["max_users"] == 5
    for name, domain in state["domains"].items():
        assert domain["dns_dkim"].startswith(f"dkim._domainkey.{name}. 600 IN TXT")
    assert state["users"] == ["admin@acme.test"]
    assert state["aliases"] == {
        "sales@shop.test": ["admin@acme.test"],
        "postmaster@acme.test": ["admin@acme.test"], "abuse@acme.test": ["admin@acme.test"],
        "postmaster@shop.test": ["admin@acme.test"], "abuse@shop.test": ["admin@acme.test"],
    }
    records = json.loads(Path(deployment["records"]).read_text())
    assert set(records) == {"acme.test", "shop.test"}
    assert records["shop.test"]["dns_mx"] == f"shop.test. 600 IN MX 10 {MAIL_HOST}."
    assert records["shop.test"]["dns_dkim"] == state["domains"]["shop.test"]["dns_dkim"]


def test_bad_input_fails_before_any_change(deployment, double, mailu_secrets):
    before = _server_state(double, mailu_secrets["api_token"])
    bad = {"mailu_domain": "Bad_Domain", "mailu_domains": [{"name": "bad domain.test"}]}
    run = run_playbook(deployment["playbook"], deployment["inventory"], extra_vars=bad)
    assert run.returncode != 0 and "mailu: check mailu_domain" in run.stdout
    assert _server_state(double, mailu_secrets["api_token"]) == before


def test_wrong_token_fails_at_once_and_counts_once(deployment, double, mailu_secrets):
    wrong = "wrong-" + secrets.token_hex(12)
    run = run_playbook(deployment["playbook"], deployment["inventory"], tags=["mailu_api"],
                       extra_vars={"mailu_api_token": wrong})
    assert run.returncode != 0 and "Not retried" in run.stdout
    assert wrong not in run.stdout
    # One wrong attempt counted: 4 more would lock this IP out; the right token still works now.
    ok = requests.get(f"{double}/{MAIL_HOST}/api/v1/domain", timeout=5,
                      headers={"Authorization": f"Bearer {mailu_secrets['api_token']}"})
    assert ok.status_code == 200
