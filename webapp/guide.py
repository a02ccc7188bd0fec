"""Where the user guide explains each error a user can meet: one mapping, code -> guide anchor.

An anchor is ``page/#id`` relative to the guide's root (the built site under /help/). The DNS
doctor's codes map by rule (their sections are generated from the catalogue when the guide is
built); health checks map by family (the check name's leading parts); run failures by playbook.
A unit test builds the guide and checks that every anchor here exists in it.
"""

from __future__ import annotations

__all__ = [
    "CHECK_ANCHORS",
    "RUN_ANCHORS",
    "anchors",
    "check_anchor",
    "dns_anchor",
    "finding_anchor",
    "run_anchor",
]

DNS_FINDINGS_PAGE = "tenant/dns-findings/"
HEALTH_PAGE = "tenant/health-checks/"
RUNS_PAGE = "admin/runs/"

# Check name family (its leading ``:``-separated parts) -> section of the health checks page.
CHECK_ANCHORS: dict[str, str] = {
    "port": "check-port",
    "dns:a": "check-dns-address",
    "dns:aaaa": "check-dns-address",
    "dns:delegation": "check-dns-delegation",
    "dns:dmarc-reports": "check-dmarc",
    "dns:tls-rpt": "check-tls-rpt",
    "dns:ready": "check-dns-ready",
    "mx": "check-mx",
    "spf": "check-spf",
    "dkim": "check-dkim",
    "dmarc": "check-dmarc",
    "mta_sts": "check-mta-sts",
    "ptr": "check-ptr",
    "soa": "check-soa",
    "dnsbl": "check-dnsbl",
    "smtp:banner": "check-smtp",
    "smtp:starttls": "check-smtp",
    "tls": "check-tls",
    "tlsa": "check-tlsa",
    "imap:login": "check-imap",
    "disk": "check-disk",
    "disk_forecast": "check-disk",
    "memory": "check-memory",
    "load": "check-load",
    "containers": "check-containers",
    "mail_queue": "check-mail-queue",
    "updates": "check-updates",
    "reboot_required": "check-updates",
    "fail2ban": "check-fail2ban",
    "firewall": "check-firewall",
    "facts": "check-facts",
    "backup": "check-backup",
    "backup:drill": "check-backup-drill",
    "backup:copy": "check-backup-copy",
    "backup:region": "check-backup-region",
    "ssh_host_key": "check-ssh-host-key",
    "monitoring": "check-monitoring",
    "sendcap": "check-sendcap",
    "warmup": "check-warmup",
    "budget": "check-budget",
    "anomaly": "check-anomaly",
}

# Catalogue key of a failed run -> what the user can fix, on the runs page.
RUN_ANCHORS: dict[str, str] = {
    "provision": "failed-provision",
    "resize": "failed-resize",
    "site": "failed-site",
    "domain": "failed-domain",
    "dns": "failed-domain",
    "backup": "failed-backup",
    "restore": "failed-restore",
    "recover": "failed-restore",
    "restore_check": "failed-restore",
    "rotate_ssh_key": "failed-rotation",
    "rotate_mailu_token": "failed-rotation",
    "backup_drill": "failed-backup",
    "drill_provision": "failed-backup",
    "drill_restore": "failed-backup",
    "drill_check": "failed-backup",
    "drill_teardown": "failed-backup",
    "deprovision": "failed-removal",
    "remove_domain": "failed-removal",
    "sendcap": "failed-sendcap",
    "switch_ip": "failed-switch-ip",
}


def dns_anchor(code: str) -> str:
    """The id of a DNS doctor code's entry (``mx.wrong-host`` -> ``dns-mx-wrong-host``)."""
    return "dns-" + code.replace(".", "-")


def check_anchor(check: str) -> str | None:
    """The guide section of a health check (``dnsbl:zen.spamhaus.org:192.0.2.1`` -> its family's),
    or None for a check the guide does not know."""
    parts = check.split(":")
    for n in range(len(parts), 0, -1):
        section = CHECK_ANCHORS.get(":".join(parts[:n]))
        if section:
            return f"{HEALTH_PAGE}#{section}"
    return None


def run_anchor(playbook: str) -> str:
    """What to do about a failed run of a catalogue playbook (the general section otherwise)."""
    return f"{RUNS_PAGE}#{RUN_ANCHORS.get(playbook, 'failed-runs')}"


def finding_anchor(code: str) -> str:
    return f"{DNS_FINDINGS_PAGE}#{dns_anchor(code)}"


def anchors() -> set[str]:
    """Every anchor the app links to apart from the DNS codes (those come from the catalogue)."""
    return ({f"{HEALTH_PAGE}#{a}" for a in CHECK_ANCHORS.values()}
            | {f"{RUNS_PAGE}#{a}" for a in RUN_ANCHORS.values()} | {f"{RUNS_PAGE}#failed-runs"})
