"""Wall time of playbooks/site.yml on one fresh testbed host, and of a second (no-change) run.

    MAILFLEET_TESTBED_INSTANCE=14 .venv/bin/python bench/site_bench.py [--tags hardening,backup]

Every role runs for real against the testbed: hardening and backup on the host, letsencrypt
against Pebble with DNS-01 on the testbed's BIND, dns (rfc2136) against the same BIND, mailu up to
compose up (no container engine or registry here) with its API steps against the Mailu API
double. Secrets come from a fresh local secrets store through the mailfleet.fleet.secret lookup.
Prints each figure beside its goal (under 5 minutes, under 60 s).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "roles"))

from roletest import run_playbook, write_inventory  # noqa: E402

from mailfleet.secrets import get_store  # noqa: E402
from mailfleet.secrets.tenant import ensure_tenant_secrets  # noqa: E402
from testbed import Testbed  # noqa: E402
from testbed.site_file import seed_tsig_secret, site_vars  # noqa: E402

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


def tenant_vars(tb: Testbed, host) -> dict[str, object]:
    """The testbed's site settings (as the control plane passes them) plus this tenant's names."""
    return {
        **site_vars(tb),
        "dns_mail_host": MAIL_HOST,
        "dns_mail_host_ipv4": [host.address],
        "letsencrypt_tenant": TENANT,
        "letsencrypt_names": [MAIL_HOST],
        "mailu_tenant": TENANT,
        "mailu_domain": DOMAIN,
        "mailu_hostnames": [MAIL_HOST],
        "mailu_domains": [{"name": DOMAIN}],
        "backup_tenant": TENANT,
    }


def published(tb: Testbed) -> dict[str, bool]:
    """Whether the hand-offs reached DNS: DKIM (from mailu) and TLSA (from letsencrypt) on the primary."""
    found = {}
    for label, name, rdtype in (("DKIM", f"dkim._domainkey.{DOMAIN}", "TXT"),
                                ("TLSA", f"_25._tcp.{MAIL_HOST}", "TLSA"), ("MX", DOMAIN, "MX")):
        answer = dns.query.udp(dns.message.make_query(name, rdtype), tb.dns.primary, timeout=5)
        found[label] = bool(answer.answer)
    return found


def measure(tb: Testbed, host_name: str, tags: list[str] | None, env: dict[str, str] | None = None,
            uncached_rerun: bool = False):
    """site.yml on a fresh host ``host_name``, then again (must change nothing); the two runs, the
    records the roles published and (``uncached_rerun``) a third run that does not read the facts
    the others cached, else None. ``env`` adds ansible-playbook settings (a strategy). The facts are
    cached in the bench's own directory, never another host's of the same name."""
    started = False
    try:
        with tempfile.TemporaryDirectory(prefix="site-bench-") as work:
            store_env = secrets_env(Path(work))
            os.environ.update(store_env)  # the lookups read the same store
            seed_tsig_secret(tb, get_store(store_env))
            tb.start_double("mailu")  # the mailu role registers the server there
            (host,) = tb.start_hosts([host_name])
            started = True
            inventory = write_inventory(Path(work), [host], group=f"tenant_{TENANT}",
                                        group_vars=tenant_vars(tb, host))
            # ansible.cfg checks host keys strictly: trust the keys the testbed hosts booted with.
            known_hosts = {"ANSIBLE_SSH_COMMON_ARGS": f"-o UserKnownHostsFile={tb.known_hosts}"}
            facts = {"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(Path(work) / "facts")}
            run_env = {**store_env, **known_hosts, **facts, **(env or {})}
            fresh = run_playbook("playbooks/site.yml", inventory, tags=tags, env=run_env, timeout=1800)
            fresh.assert_ok()
            again = run_playbook("playbooks/site.yml", inventory, tags=tags, env=run_env, timeout=1800)
            print(f"fresh host {fresh.seconds:.1f}s; second run {again.seconds:.1f}s, "
                  f"changed tasks: {again.changed_tasks()}", flush=True)
            again.assert_idempotent()
            uncached = None
            if uncached_rerun:
                uncached = run_playbook("playbooks/site.yml", inventory, tags=tags, timeout=1800,
                                        env={**run_env, "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.memory"})
                uncached.assert_idempotent()
            return fresh, again, (published(tb) if not tags else {}), uncached
    finally:
        if started:
            tb.stop_host(host_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default="", help="comma-separated tags (default: the whole site.yml)")
    parser.add_argument("--host", default="bench1")
    args = parser.parse_args(argv)
    tags = [t for t in args.tags.split(",") if t] or None

    tb = Testbed()
    tb.up()
    try:
        fresh, again, records, _ = measure(tb, args.host, tags)
    finally:
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
