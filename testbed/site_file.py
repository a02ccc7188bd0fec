"""The testbed's site variables: the one non-secret settings file the control plane passes to every
run (``MAILFLEET_SITE_VARS_FILE``, read by jobs/sitevars.py), written by `make demo` and the tests.
Engineers can drop the same file into an inventory's group_vars/all/.

Settings only: the TSIG secret is put into the secrets store (global/dns_tsig) and the file names
it through the ``mailfleet.fleet.secret`` lookup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from mailfleet.secrets import SecretNotFound
from mailfleet.secrets.paths import DNS_TSIG_PATH
from testbed import Testbed


def dns_update_vars(tb: Testbed) -> dict[str, Any]:
    """The dns role's variables for the testbed BIND: where updates go, the TSIG key's name and the
    resolver to wait on. Not the key's secret: each caller passes it or names it in the store."""
    dns = tb.dns
    return {
        "dns_rfc2136_server": dns.primary,
        "dns_rfc2136_key_name": dns.tsig_name,
        "dns_rfc2136_key_algorithm": dns.tsig_algorithm,
        "dns_wait_resolver": dns.resolver,
        "dns_wait_timeout": 60,
    }


def pebble_vars(tb: Testbed) -> dict[str, Any]:
    """The letsencrypt role's variables for the testbed's Pebble (its directory and its TLS CA)."""
    return {
        "letsencrypt_directory": "pebble",
        "letsencrypt_pebble_directory_url": tb.acme.directory_url,
        "letsencrypt_acme_ca_bundle": str(tb.acme.root_ca_path),
    }


def site_vars(tb: Testbed) -> dict[str, Any]:
    return {
        "dns_provider": "rfc2136",
        **dns_update_vars(tb),
        "dns_rfc2136_key_secret":
            f"{{{{ lookup('mailfleet.fleet.secret', '{DNS_TSIG_PATH}', field='secret') }}}}",
        **pebble_vars(tb),
        "letsencrypt_reload_enabled": False,  # no container runs on the testbed
        "mailu_engine_source": "debian",  # Docker's repository is not reachable here
        # Only the compose checker: docker.io's install spends minutes in failing dockerd starts.
        "mailu_engine_packages": ["docker-compose"],
        "mailu_compose_up_enabled": False,  # no registry, no dockerd in systemd-nspawn
        # The Mailu API double stands in for each server's admin API; the host's testbed mail stack
        # (testbed/mailstack) registers the server there once mailu.env is written.
        "mailu_api_url": f"{tb.double_url('mailu')}/{{{{ mailu_hostnames | first }}}}/api/v1",
        # The testbed's Postfix runs on the host (testbed/mailstack), not in a container on Mailu's network.
        "mailu_sendcap_address": "127.0.0.1",
        "mailfleet_postfix_log": "journald",  # read by playbooks/health_facts.yml
        "backup_repository_type": "local",
        # The controller reaches the hosts from the bridge's gateway: fail2ban must never ban it.
        "hardening_fail2ban_ignoreip": ["127.0.0.1/8", "::1", tb.layout.gateway],
    }


def seed_tsig_secret(tb: Testbed, store: Any) -> None:
    """The testbed BIND's TSIG secret, in the store (kept as is if it already matches)."""
    secret = tb.dns.tsig_secret
    try:
        if store.get_field(DNS_TSIG_PATH, "secret") == secret:
            return
    except SecretNotFound:
        pass
    store.put(DNS_TSIG_PATH, {"secret": secret})


def write_site_vars(tb: Testbed, path: Path, store: Any) -> Path:
    """Seed the TSIG secret and write the site variables file (0600, replaced atomically)."""
    seed_tsig_secret(tb, store)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = "# testbed site variables (testbed/site_file.py); no secrets: those come from the store\n"
    text += yaml.safe_dump(site_vars(tb), sort_keys=False, default_flow_style=False)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
    return path
