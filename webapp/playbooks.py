"""The playbooks the control plane may run, and the variables each one accepts.

Nothing else can be run from the web, the API or the CLI: a run names a catalogue key, and its
extravars are built by the services layer from validated fields whose names are listed here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Playbook:
    key: str
    filename: str  # under the playbook directory (config MAILFLEET_PLAYBOOK_DIR)
    title: str
    variables: frozenset[str]
    # Offered as is in the "run a playbook" form and API call (tenant + optional limit, no variables).
    direct: bool = False
    # Orders something billable: only roles that may spend, within the tenant's limits.
    spends: bool = False
    # Safe to run again from the start after its worker was lost mid-run (idempotent): the reaper
    # submits the retry itself, once.
    retry_when_lost: bool = False
    # May be rolled out across the fleet by an administrator (webapp.services.rollouts): a run per
    # server, limited to it, with no variables.
    rollout: bool = False
    # Only these tags of the playbook run (ansible-playbook --tags); empty: the whole playbook.
    tags: tuple[str, ...] = ()


#: What finds one of the tenant's servers at its provider (webapp.services.fleet.server_vars).
#: mailfleet_tenant is in the inventory too, but play-level host patterns see only extra vars.
SERVER_VARIABLES = frozenset({"mailfleet_tenant", "mailfleet_provider", "server_index"})

CATALOGUE: dict[str, Playbook] = {
    p.key: p
    for p in (
        Playbook(
            "provision",
            "provision.yml",
            "Provision a server",
            # Names as playbooks/provision.yml reads them.
            SERVER_VARIABLES
            | frozenset(
                {
                    "server_location",
                    "server_plan",
                    "mail_hostname",
                    # A recovery's new server (webapp.services.recovery): the lost server it replaces,
                    # the point in time its restore goes back to (none: the latest snapshot), and
                    # whether the restore reads the lost server's copy in another region.
                    "recover_from_host",
                    "recover_before",
                    "recover_from_copy",
                }
            ),
            spends=True,
        ),
        Playbook(
            "resize",
            "resize.yml",
            "Resize a server",
            SERVER_VARIABLES
            | frozenset(
                {
                    "server_plan",
                    "resize_monthly_price",
                    "resize_previous_price",
                }
            ),
            spends=True,
        ),
        # Submitted by webapp.services.ipswitch (a confirmed action); the server is found by index.
        Playbook(
            "switch_ip",
            "switch_ip.yml",
            "Switch a server's main IP",
            SERVER_VARIABLES
            | frozenset(
                {"switch_ip_from", "mail_hostname", "switch_ip_cooldown_override", "switch_ip_price",
                 "switch_ip_monthly_change"}
            ),
        ),
        Playbook(
            "site",
            "site.yml",
            "Configure the tenant's servers",
            frozenset(),
            direct=True,
            retry_when_lost=True,
            rollout=True,
        ),
        Playbook(
            "domain", "site.yml", "Add a mail domain", frozenset({"mailfleet_domains"}), retry_when_lost=True
        ),
        # The DNS doctor's Fix (webapp.services.dnsdoctor): the part of site.yml that publishes DNS
        # (the certificate's TLSA, Mailu's domains and DKIM keys, the MTA-STS policies the records
        # announce, then the dns role, which takes over records in the way of its own), nothing else.
        Playbook(
            "dns",
            "site.yml",
            "Publish the DNS records again",
            frozenset({"mailfleet_domains", "dns_take_over"}),
            retry_when_lost=True,
            tags=("letsencrypt", "mailu_api", "mailu_mta_sts", "dns"),
        ),
        # The actions of webapp.services.actions: one server each (its limit), or the tenant's servers.
        Playbook("backup", "backup.yml", "Back up now", frozenset(), retry_when_lost=True, rollout=True),
        Playbook(
            "restore",
            "restore.yml",
            "Restore from backup",
            frozenset({"restore_before", "restore_from_host"}),
        ),
        # A recovery's steps after provisioning (webapp.services.recovery): the lost server's snapshot
        # restored onto the new one, then checked against it; DNS follows the check.
        Playbook(
            "recover",
            "restore.yml",
            "Restore a lost server onto a new one",
            frozenset({"restore_before", "restore_from_host", "restore_from_copy"}),
        ),
        Playbook(
            "restore_check",
            "restore_check.yml",
            "Check a restored server against its snapshot",
            frozenset({"restore_snapshot_id", "restore_from_host"}),
        ),
        # A restore drill on a throwaway server (webapp.services.drills): ordered under a name of
        # its own (server_name, drill-<tenant>-<n>), the source server's latest snapshot restored
        # there and checked, then the server deleted whatever happened; DNS is never touched.
        Playbook(
            "drill_provision",
            "provision.yml",
            "Order a restore drill's throwaway server",
            SERVER_VARIABLES
            | frozenset({"server_location", "server_plan", "server_name", "mail_hostname", "drill_of_host"}),
        ),
        Playbook(
            "drill_restore",
            "restore.yml",
            "Restore drill: restore the latest snapshot onto the throwaway server",
            frozenset({"restore_from_host"}),
        ),
        Playbook(
            "drill_check",
            "restore_check.yml",
            "Restore drill: check the throwaway server against the snapshot",
            frozenset({"restore_snapshot_id", "restore_from_host"}),
        ),
        Playbook(
            "drill_teardown",
            "deprovision.yml",
            "Restore drill: delete the throwaway server",
            SERVER_VARIABLES
            | frozenset({"server_name", "deprovision_dns_host", "deprovision_revoke_backup_key_on"}),
        ),
        Playbook(
            "rotate_ssh_key",
            "rotate_ssh_key.yml",
            "Rotate the SSH key",
            frozenset({"tenant", "rotate_ssh_key_hosts"}),
        ),
        Playbook(
            "rotate_mailu_token",
            "rotate_mailu_token.yml",
            "Rotate the Mailu API token",
            frozenset({"tenant", "rotate_mailu_token_hosts"}),
        ),
        Playbook(
            "remove_domain",
            "remove_domain.yml",
            "Remove a mail domain",
            frozenset({"mailfleet_domains_absent", "remove_domain_dns"}),
        ),
        Playbook(
            "deprovision",
            "deprovision.yml",
            "Deprovision a server",
            SERVER_VARIABLES
            | frozenset(
                {
                    "mail_hostname",
                    "deprovision_dns_host",
                    "deprovision_dns_domains",
                }
            ),
        ),
        # Submitted by jobs.drills (rq cron) once a tenant's last drill is older than the drill
        # period; also offered to people.
        Playbook("backup_drill", "backup_drill.yml", "Restore drill", frozenset(), direct=True),
        # Submitted every 5 minutes by jobs.health_facts (rq cron), never from a form.
        Playbook(
            "health_facts",
            "health_facts.yml",
            "Collect health facts",
            frozenset({"health_facts_dir"}),
            retry_when_lost=True,
        ),
        # Submitted daily by jobs.renewals (rq cron), also offered to people; a no-op unless a
        # certificate has fewer than 30 days left.
        Playbook(
            "renew_certificates",
            "renew_certificates.yml",
            "Renew certificates",
            frozenset(),
            direct=True,
            retry_when_lost=True,
            rollout=True,
        ),
        # Submitted when a warm-up plan changes (webapp.services.warmup) and daily by jobs.sendcaps;
        # the caps come from the run's inventory (jobs.inventory).
        Playbook(
            "sendcap",
            "sendcap.yml",
            "Push the sending caps",
            frozenset(),
            direct=True,
            retry_when_lost=True,
            rollout=True,
        ),
    )
}


def by_key(key: str) -> Playbook | None:
    return CATALOGUE.get(key)


def direct() -> list[Playbook]:
    return [p for p in CATALOGUE.values() if p.direct]
