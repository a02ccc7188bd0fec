"""Health sweep of every active server (from rq cron every MAILFLEET_HEALTH_SWEEP_SECONDS, 5 minutes by
default; also on demand for one server).

The engine (mailfleet.monitoring) does the checking and the alert decisions; this job only builds
the targets from the database, stores through SqlHealthStore and hands notifications to the
configured channels; the settings, channels, facts reading and retry policy are
mailfleet.monitoring's (the ``monitoring`` group of mailfleet.settings, and MAILFLEET_HEALTH_FACTS_DIR,
where the inside facts documents are: see below).

What the outside checks cannot see comes in two feeds:
- DKIM: each domain's public key is read from the server's Mailu (GET /domain/{d}, dns_dkim) with the
  tenant's API token, so the DKIM check compares the published record with the key the server signs
  with. A server whose Mailu cannot be reached keeps the key unknown (the check says so, in yellow).
- Inside facts (disk, memory, load, containers, queue, updates, fail2ban, backup, firewall, the
  sending caps policy service, the day's message counts: webapp.services.mailstats) come from
  playbooks/health_facts.yml, run as its own periodic play (an SSH round to every host does not
  belong inside a sweep that must finish in under a minute for 1,000 servers):
      ansible-playbook -i inventory/hostwinds.yml playbooks/health_facts.yml \
          -e health_facts_dir=$MAILFLEET_HEALTH_FACTS_DIR
  writes <dir>/<inventory name>.json; the sweep evaluates every document younger than FACTS_MAX_AGE
  and reports an older or unreadable one as the "facts" check (unknown / warning), never as green.

Each sweep records its own outcome as the check ``monitoring`` of no server (see
webapp.models.health): a sweep that fails (bad settings, an unreachable database, a bug) shows on the
health pages with its error and opens a critical alert through the same notifiers at once; the next
good sweep resolves it. The job then still fails, so RQ records it as failed too.

The Spamhaus lists are queried through Spamhaus' Data Query Service when the secrets store holds a
key (``global/spamhaus``, field ``dqs_key``); their checks keep the public zones' names, so the key
never reaches a check name, an alert or a page.

A failed notification is retried once (mailfleet.monitoring.deliver_with_retry); it is then
logged and counted, and the job still finishes.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import select

from jobs.app import worker_app
from mailfleet.clock import utcnow
from mailfleet.monitoring import (
    AlertPolicies,
    AlertPolicy,
    CheckResult,
    MailDomain,
    MonitoringConfig,
    ServerTarget,
    Status,
    SweepEngine,
    deliver_with_retry,
    escalate_due,
    facts_results,
    monitoring_config,
    record_results,
)
from mailfleet.monitoring.dnsbl import with_dqs
from mailfleet.secrets import SecretNotFound, SecretsError
from mailfleet.settings import Settings
from webapp.extensions import db
from webapp.integrations import alert_router, mailu_client, secret_store
from webapp.models import Domain, DomainStatus, Server, ServerStatus, SqlHealthStore
from webapp.models.health import MONITORING_CHECK, MONITORING_SERVER
from webapp.services import backupregions, backups, drills, mailstats, secondary_mx, warmup

log = logging.getLogger(__name__)

DKIM_LOOKUPS = 8  # Mailu API calls in flight at once
# One failed sweep is evidence enough (nothing is being checked), one good sweep ends it.
MONITORING_POLICY = AlertPolicies(AlertPolicy(fail_after=1, pass_after=1))
_DKIM_LINE = re.compile(r"^(?P<selector>[^.\s]+)\._domainkey\.\S+\s")


def dkim_key(zone_line: str | None) -> tuple[str, str] | None:
    """(selector, base64 public key) from Mailu's `dns_dkim` zone line, None if there is none.
    Mailu's line is `<selector>._domainkey.<domain>. <ttl> IN TXT "v=DKIM1; k=rsa; p=MIIB..."`, one
    string; a line split into several quoted strings reads the same."""
    if not zone_line:
        return None
    match = _DKIM_LINE.match(zone_line.strip())
    text = "".join(re.findall(r'"([^"]*)"', zone_line))
    tags = dict(part.strip().split("=", 1) for part in text.split(";") if "=" in part)
    key = "".join(tags.get("p", "").split())
    return (match["selector"].lower(), key) if match and key else None


def _dkim_keys(app: Flask, servers: Sequence[Server]) -> dict[tuple[str, str], tuple[str, str]]:
    """{(server, domain): (selector, key)}, each domain asked of its server's Mailu (reached at the
    server's mail host name); failures leave a key unknown."""
    asks = [
        (s.tenant.slug, s.name, s.mail_hostname, d.name)
        for s in servers
        if s.tenant is not None and s.mail_hostname
        for d in s.domains
    ]

    def ask(item: tuple[str, str, str, str]) -> tuple[tuple[str, str], tuple[str, str] | None]:
        tenant, server, mail_host, domain = item
        try:
            with app.app_context():
                return (server, domain), dkim_key(
                    mailu_client(tenant, mail_host, app).get_domain(domain).get("dns_dkim")
                )
        except Exception as exc:  # noqa: BLE001 - one server's Mailu must not stop the sweep
            log.warning("DKIM key of %s on %s unknown: %s", domain, server, type(exc).__name__)
            return (server, domain), None

    if not asks:
        return {}
    with ThreadPoolExecutor(max_workers=min(DKIM_LOOKUPS, len(asks))) as pool:
        return {key: found for key, found in pool.map(ask, asks) if found is not None}


def targets(server_id: int | None = None, app: Flask | None = None) -> list[ServerTarget]:
    """Active servers with a mail host name and a public address (others cannot be checked from
    outside); with `app`, each domain carries the DKIM key its server's Mailu signs with. MX, PTR,
    A/AAAA, TLS and MTA-STS are checked against the mail host name (the provider's host name is
    only a label there)."""
    query = select(Server).where(
        Server.status == ServerStatus.ACTIVE, Server.mail_hostname.is_not(None), Server.drill_of_id.is_(None)
    )
    if server_id is not None:
        query = query.where(Server.id == server_id)
    servers = [s for s in db.session.scalars(query) if s.public_ipv4 or s.public_ipv6]
    keys = _dkim_keys(app, servers) if app is not None else {}
    relayed: dict[int, list[str]] = {}  # server id -> domains it is the secondary MX of
    for domain in db.session.scalars(
        select(Domain).where(Domain.secondary_server_id.is_not(None), Domain.status != DomainStatus.REMOVING)
        .order_by(Domain.name)
    ):
        relayed.setdefault(int(domain.secondary_server_id or 0), []).append(domain.name)
    out = []
    for s in servers:
        assert s.mail_hostname is not None  # the query keeps servers with a mail host name
        domains = []
        for d in s.domains:
            selector, key = keys.get((s.name, d.name), ("dkim", None))
            domains.append(MailDomain(d.name, dkim_selector=selector, dkim_public_key=key,
                                      secondary_mx=secondary_mx.secondary_host(d)))
        out.append(
            ServerTarget(
                name=s.name,
                hostname=s.mail_hostname,
                ipv4=(s.public_ipv4,) if s.public_ipv4 else (),
                ipv6=(s.public_ipv6,) if s.public_ipv6 else (),
                domains=tuple(domains),
                relays=tuple(relayed.get(s.id, ())),
            )
        )
    return out


def sweep_health(server_id: int | None = None) -> dict[str, int]:
    """One sweep (all active servers, or one); returns counts for the job's result. Its outcome is
    recorded as the ``monitoring`` check; a failure is recorded, alerted, then raised."""
    app = worker_app()
    with app.app_context():
        try:
            summary = _sweep(app, server_id)
        except Exception as exc:
            db.session.rollback()
            _record_sweep(app, Status.ERROR, None, f"the health sweep failed: {type(exc).__name__}: {exc}")
            raise
        _record_sweep(
            app,
            Status.OK,
            summary["checks"],
            f"sweep of {summary['servers']} server(s): {summary['checks']} checks",
        )
        return summary


def _record_sweep(app: Flask, status: Status, checks: int | None, detail: str) -> None:
    result = CheckResult(MONITORING_SERVER, MONITORING_CHECK, status, checks, detail[:1000], utcnow())
    notes = record_results(SqlHealthStore(), [result], MONITORING_POLICY)
    if not notes:
        return
    try:
        router = alert_router(app)
    except Exception:  # the channels' own settings are broken: the page still shows the failure
        log.exception("cannot notify that monitoring is %s", "back" if status is Status.OK else "broken")
        return
    deliver_with_retry(router, notes)


SPAMHAUS_PATH = "global/spamhaus"
SELFTEST_PREFIX = "dnsbl-selftest:"


def list_selftest_results(selftests: dict[str, str | None]) -> list[CheckResult]:
    """Each blocklist's self-test as a check of the control plane (MONITORING_SERVER): a list that
    failed it is disabled for the sweep (its listings read unknown) and flagged here, in yellow."""
    now = utcnow()
    results = []
    for zone, failed in sorted(selftests.items()):
        status, detail = (Status.OK, f"{zone} passes its self-test") if failed is None else (
            Status.WARNING, f"{zone} is disabled: it failed its self-test: {failed}"[:1000])
        results.append(CheckResult(MONITORING_SERVER, f"{SELFTEST_PREFIX}{zone}", status, None, detail, now))
    return results



def with_spamhaus_key(app: Flask, config: MonitoringConfig) -> MonitoringConfig:
    """`config` with the Spamhaus lists through DQS when the store holds a key; else as it is."""
    try:
        key = secret_store(app).get_field(SPAMHAUS_PATH, "dqs_key")
    except SecretNotFound:
        return config
    except SecretsError as exc:
        log.warning("Spamhaus DQS key not read, the public zones are asked: %s", exc)
        return config
    return dataclasses.replace(
        config, ip_lists=with_dqs(config.ip_lists, key), domain_lists=with_dqs(config.domain_lists, key)
    )


def _sweep(app: Flask, server_id: int | None) -> dict[str, int]:
    config = with_spamhaus_key(app, monitoring_config())
    router = alert_router(app)
    store = SqlHealthStore()
    found = targets(server_id, app)
    report = SweepEngine(config).run(found)
    results = [*report.results, *list_selftest_results(report.list_selftests)]
    # Where each server's backup copy goes: a warning for backups that stay in one region.
    results += backupregions.region_results([t.name for t in found], utcnow(), app)
    facts_dir = Settings()["MAILFLEET_HEALTH_FACTS_DIR"]
    if facts_dir:
        results += facts_results([t.name for t in found], facts_dir, config.facts, utcnow())
        # A drill on a throwaway server newer than the host's own scratch drill is its backup:drill.
        results = drills.drill_results(
            results, [t.name for t in found], config.facts.backup_drill_max_age, utcnow()
        )
        backups.record_statuses([t.name for t in found], facts_dir)
        results += mailstats.record_counts([t.name for t in found], facts_dir, utcnow())
    notes = record_results(store, results, config.alerts)
    warmup.react_to_listings(results, utcnow())  # after the alerts: a critical one records the caps
    notes += escalate_due(store, config.alerts, utcnow())
    deliveries = deliver_with_retry(router, notes)
    counts = {status.value: n for status, n in report.counts().items()}
    summary = {
        "servers": len(found),
        "checks": len(report.results),
        "notifications": len(notes),
        "failed_deliveries": sum(1 for d in deliveries if not d.ok),
        **counts,
    }
    log.info("health sweep: %s in %.1f s", summary, report.duration_s)
    return summary
