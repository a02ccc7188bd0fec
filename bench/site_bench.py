"""Wall time of playbooks/site.yml on one fresh testbed host, and of a second (no-change) run.

    MAILFLEET_TESTBED_INSTANCE=14 .venv/bin/python bench/site_bench.py [--tags hardening,backup]

Every role runs for real against the testbed: hardening and backup on the host, letsencrypt
against Pebble with DNS-01 on the testbed's BIND, dns (rfc2136) against the same BIND, mailu up to
compose up (no container engine or registry here) with its API steps against the Mailu API
double. Secrets come from a fresh local secrets store through the mailfleet_secret lookup.
Prints each figure beside its goal (DESIGN/issue 4: under 5 minutes, under 60 s).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
import tempfile
from pathlib import Path

import dns.message
import dns.query
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "roles"))

from roletest import run_playbook, write_inventory  # noqa: E402

from mailfleet.secrets import get_store  # noqa: E402
from mailfleet.secrets.tenant import ensure_tenant_secrets  # noqa: E402
from testbed import Testbed  # noqa: E402

TENANT = "bench"
DOMAIN = "example.test"  # a zone the testbed's BIND serves
MAIL_HOST = f"mail.{DOMAIN}"
GOALS = {"fresh host": 300.0, "second run": 60.0}


def secrets_env(directory: Path) -> dict[str, str]:
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(directory / "store.enc"),
        "MAILFLEET_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    ensure_tenant_secrets(TENANT, get_store(env))
    return env


def register_mailu_double(tb: Testbed, env: dict[str, str]) -> str:
    """Register the tenant's server with the Mailu API double (what compose up would start)."""
    mailu = get_store(env).get(f"tenants/{TENANT}/mailu")
    root = tb.start_double("mailu")
    requests.delete(f"{root}/_double/servers/{MAIL_HOST}", timeout=5)
    requests.put(f"{root}/_double/servers/{MAIL_HOST}", timeout=5, json={
        "api_token": mailu["api_token"], "domain": DOMAIN, "hostnames": [MAIL_HOST],
        "initial_admin_account": "admin", "initial_admin_domain": DOMAIN,
        "initial_admin_pw": mailu["admin_password"], "initial_admin_mode": "ifmissing",
    }).raise_for_status()
    return f"{root}/{MAIL_HOST}/api/v1"


def tenant_vars(tb: Testbed, host, api_url: str) -> dict[str, object]:
    dns, acme = tb.dns, tb.acme
    gateway = host.address.rsplit(".", 1)[0] + ".1"
    return {
        "hardening_fail2ban_ignoreip": ["127.0.0.1/8", "::1", gateway],
        "dns_provider": "rfc2136",
        "dns_rfc2136_server": dns.primary,
        "dns_rfc2136_key_name": dns.tsig_name,
        "dns_rfc2136_key_secret": dns.tsig_secret,
        "dns_rfc2136_key_algorithm": dns.tsig_algorithm,
        "dns_wait_resolver": dns.resolver,
        "dns_wait_timeout": 60,
        "dns_mail_host": MAIL_HOST,
        "dns_mail_host_ipv4": [host.address],
        "letsencrypt_tenant": TENANT,
        "letsencrypt_directory": "pebble",
        "letsencrypt_pebble_directory_url": acme.directory_url,
        "letsencrypt_acme_ca_bundle": str(acme.root_ca_path),
        "letsencrypt_names": [MAIL_HOST],
        "letsencrypt_reload_enabled": False,  # no container runs on the testbed
        "mailu_tenant": TENANT,
        "mailu_domain": DOMAIN,
        "mailu_hostnames": [MAIL_HOST],
        "mailu_engine_source": "debian",  # Docker's repository is not reachable here
        "mailu_engine_packages": ["docker-compose"],
        "mailu_compose_up_enabled": False,  # no registry, no dockerd in systemd-nspawn
        "mailu_api_url": api_url,
        "mailu_domains": [{"name": DOMAIN}],
        "backup_tenant": TENANT,
        "backup_repository_type": "local",
    }


def published(tb: Testbed) -> dict[str, bool]:
    """Whether the hand-offs reached DNS: DKIM (from mailu) and TLSA (from letsencrypt) on the primary."""
    found = {}
    for label, name, rdtype in (("DKIM", f"dkim._domainkey.{DOMAIN}", "TXT"),
                                ("TLSA", f"_25._tcp.{MAIL_HOST}", "TLSA"), ("MX", DOMAIN, "MX")):
        answer = dns.query.udp(dns.message.make_query(name, rdtype), tb.dns.primary, timeout=5)
        found[label] = bool(answer.answer)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default="", help="comma-separated tags (default: the whole site.yml)")
    parser.add_argument("--host", default="bench1")
    args = parser.parse_args(argv)
    tags = [t for t in args.tags.split(",") if t] or None

    tb = Testbed()
    tb.up()
    started = False
    try:
        with tempfile.TemporaryDirectory(prefix="site-bench-") as work:
            env = secrets_env(Path(work))
            os.environ.update(env)  # the Mailu double registration and the lookups read the same store
            api_url = register_mailu_double(tb, env)
            (host,) = tb.start_hosts([args.host])
            started = True
            inventory = write_inventory(Path(work), [host], group=f"tenant_{TENANT}",
                                        group_vars=tenant_vars(tb, host, api_url))
            fresh = run_playbook("playbooks/site.yml", inventory, tags=tags, env=env, timeout=1800)
            fresh.assert_ok()
            again = run_playbook("playbooks/site.yml", inventory, tags=tags, env=env, timeout=1800)
            print(f"fresh host {fresh.seconds:.1f}s; second run {again.seconds:.1f}s, "
                  f"changed tasks: {again.changed_tasks()}", flush=True)
            again.assert_idempotent()
            records = published(tb) if not tags else {}
    finally:
        if started:
            tb.stop_host(args.host)
        tb.down()

    scope = ",".join(tags) if tags else "all roles"
    strategy = os.environ.get("ANSIBLE_STRATEGY", "linear (ansible.cfg)")
    print(f"site.yml ({scope}; strategy {strategy}; instance {tb.instance})")
    if records:
        states = ", ".join(f"{kind} {'yes' if seen else 'NO'}" for kind, seen in records.items())
        print(f"records on the primary: {states}")
    print(f"{'run':<12} {'wall time':>10} {'goal':>8}  ok  tasks changed")
    for label, run in (("fresh host", fresh), ("second run", again)):
        recap = next(iter(run.recap.values()))
        verdict = "yes" if run.seconds < GOALS[label] else "NO"
        print(f"{label:<12} {run.seconds:>9.1f}s {GOALS[label]:>7.0f}s  {verdict:<3} "
              f"{recap.ok:>5} {recap.changed:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
