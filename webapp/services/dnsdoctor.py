"""Domain DNS readiness: what the DNS doctor last found for a domain, whether mailboxes may be
created on it, the "check again" job, the automatic fix, the admin override, and which domains
are due a check.

A domain is ready only when the doctor says so (every blocking check passes and every
authoritative server agrees). Checks run in a job (``jobs.dnsdoctor``), never in a request:
every 5 minutes for two hours after its records were published, then daily.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from mailfleet.clock import utcnow
from mailfleet.dns import DnsError
from mailfleet.dnsdoctor.findings import CATALOGUE
from mailfleet.secrets import SecretsError
from webapp.errors import InvalidInput
from webapp.extensions import db
from webapp.integrations import dns_zone_check
from webapp.models import Domain, DomainStatus, Run, Tenant
from webapp.queue import DNS_CHECK_JOB, enqueue
from webapp.services import fleet, setup_times
from webapp.services.scope import Scope

READY = "ready"
CHECK_EVERY = 300  # seconds between the scheduler's rounds
# a round re-checks what it checked one round ago (a minute of slack for the rounds' own jitter)
RECHECK_AFTER_CHANGE = timedelta(seconds=CHECK_EVERY - 60)
CHANGE_WINDOW = timedelta(hours=2)
RECHECK_DAILY = timedelta(days=1)


def tenant_domain(scope: Scope, tenant: Tenant, domain_id: int) -> Domain:
    domain = scope.get(Domain, domain_id)
    if domain.tenant_id != tenant.id:
        raise InvalidInput("that domain belongs to another tenant")
    return domain


def readiness_refusal(domain: Domain) -> str | None:
    """Why mailboxes may not be created on the domain yet (None: they may)."""
    if current_app.config["MAILFLEET_DNS_READINESS"] != "enforce":
        return None
    if domain.dns_status == READY or domain.dns_override_at is not None:
        return None
    if domain.dns_status is None:
        return (f"the DNS of {domain.name} has not been checked yet: open its DNS check page and "
                "press Check again")
    reasons = (domain.dns_report or {}).get("reasons") or []
    shown = "; ".join(reasons[:3]) + (f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else "")
    return f"the DNS of {domain.name} is not ready ({domain.dns_status}): {shown}"


def request_check(scope: Scope, tenant: Tenant, domain_id: int) -> Domain:
    """Queue a doctor run for the domain (one at a time: asking again while one waits is a no-op)."""
    domain = tenant_domain(scope, tenant, domain_id)
    enqueue(DNS_CHECK_JOB, domain.id, f"DNS check of {domain.name}")
    return domain


def fixable(domain: Domain) -> bool:
    """The last check found something to fix in a zone mailfleet updates itself (not at the
    registrar: NS and DS records live in the parent zone)."""
    report = domain.dns_report or {}
    in_zone = [f for f in report.get("findings") or []
               if f.get("records") and not getattr(CATALOGUE.get(f.get("code")), "at_registrar", False)]
    return (domain.status == DomainStatus.ACTIVE and bool((report.get("dns_host") or {}).get("managed"))
            and bool(in_zone))


def fix(scope: Scope, tenant: Tenant, domain_id: int) -> Run:
    """Publish the domain's records again through the dns role (the DNS part of the server's domain
    run, from the catalogue: mailfleet writes DNS in one place only). Its re-checks start over:
    every 5 minutes for two hours, timed from now."""
    domain = tenant_domain(scope, tenant, domain_id)
    if not fixable(domain):
        raise InvalidInput(f"nothing for mailfleet to fix in the DNS of {domain.name}: its last check "
                           "found no record to publish in a zone mailfleet writes to (add the records shown "
                           "by hand)")
    try:
        dns_zone_check(domain.name)
    except (DnsError, SecretsError, OSError) as exc:
        raise InvalidInput(f"mailfleet cannot write to the zone of {domain.name} ({exc}): add the records "
                           "shown by hand") from None
    run = fleet.publish_domains(scope, tenant, domain.server, dns_only=True)
    note_published(domain, utcnow(), run)
    db.session.commit()
    return run


def override(scope: Scope, tenant: Tenant, domain_id: int) -> Domain:
    """An admin lets mailboxes be created although DNS is not ready; who and when are kept."""
    scope.require_admin()
    domain = tenant_domain(scope, tenant, domain_id)
    domain.dns_override_by_id = scope.user.id
    domain.dns_override_at = utcnow()
    db.session.commit()
    return domain


def note_published(domain: Domain, at: datetime, run: Run | None = None) -> None:
    """Its records were (re)published (by ``run``): propagation is timed from here."""
    domain.dns_changed_at = at
    domain.dns_ready_at = None
    domain.dns_propagation_seconds = None
    setup_times.note_published(domain, at, run)


def record_report(domain: Domain, report: dict[str, Any], at: datetime) -> str | None:
    """Keep the doctor's report; return the previous status. The first ready after a change
    records the propagation time, and each server the time it took to serve the new records."""
    previous = domain.dns_status
    domain.dns_status = report["status"]
    domain.dns_report = {**report, **_seen(domain, report, at)}
    domain.dns_checked_at = at
    if report["status"] == READY and domain.dns_ready_at is None:
        domain.dns_ready_at = at
        if domain.dns_changed_at is not None:
            domain.dns_propagation_seconds = max(int((at - domain.dns_changed_at).total_seconds()), 0)
            setup_times.note_ready(domain, at)
    db.session.commit()
    return previous


def _seen(domain: Domain, report: dict[str, Any], at: datetime) -> dict[str, Any]:
    """``seen``: per server of the report (name server or resolver), the seconds from the records'
    publication to the first check that found it serving every published value, carried from check
    to check until the next publication (``seen_since``)."""
    if domain.dns_changed_at is None:
        return {}
    since = domain.dns_changed_at.isoformat()
    earlier = domain.dns_report or {}
    seen = dict(earlier.get("seen") or {}) if earlier.get("seen_since") == since else {}
    serving: dict[str, bool] = {}
    for record in report.get("propagation") or []:
        for answer in record["answers"]:
            serving[answer["server"]] = serving.get(answer["server"], True) and answer["expected"]
    after = max(int((at - domain.dns_changed_at).total_seconds()), 0)
    seen.update({server: after for server, serves in serving.items() if serves and server not in seen})
    return {"seen": seen, "seen_since": since}


def propagation_times(domain: Domain) -> list[dict[str, Any]]:
    """The propagation chart's bars: each server of the last report with its role and the seconds
    it took to serve the records published last (None: not yet), slowest last; ``share`` is the
    bar's length against the slowest."""
    report = domain.dns_report or {}
    if report.get("seen_since") is None:
        return []
    seen = report.get("seen") or {}
    roles = {a["server"]: a["role"] for r in report.get("propagation") or [] for a in r["answers"]}
    longest = max([*seen.values(), 1])
    bars = [{"server": server, "role": role, "seconds": seen.get(server),
             "share": seen[server] / longest if server in seen else 1.0}
            for server, role in roles.items()]
    return sorted(bars, key=lambda b: (b["seconds"] is None, b["seconds"] or 0, b["server"]))


def due_domains(now: datetime) -> list[Domain]:
    """Active domains never checked, changed in the last two hours and not checked for 5 minutes,
    or not checked for a day."""
    found = []
    for domain in db.session.scalars(select(Domain).where(Domain.status == DomainStatus.ACTIVE)):
        checked = domain.dns_checked_at
        recent = domain.dns_changed_at is not None and now - domain.dns_changed_at < CHANGE_WINDOW
        if checked is None or now - checked >= (RECHECK_AFTER_CHANGE if recent else RECHECK_DAILY):
            found.append(domain)
    return found
