"""DNS doctor jobs: check one domain (the wizard's "Check again"), and the scheduler's round over
the domains that are due (every 5 minutes for two hours after their records were published, then
daily). Each check keeps the report on the domain and records the check ``dns:ready:<domain>`` of
its server through the health store, so a ready domain that stops being ready opens an alert.

The doctor asks the monitoring resolver (MAILFLEET_MONITORING_RESOLVER, with the monitoring
settings' timeout and CA file) and compares the caches of MAILFLEET_DNS_PANEL for propagation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from flask import Flask

from jobs.app import worker_app
from jobs.health import targets
from jobs.sitevars import SITE_VARS_ENV, load_site_vars
from mailfleet.clock import utcnow
from mailfleet.dnsdoctor import Doctor, DoctorConfig, Readiness, Report, caa_identity
from mailfleet.monitoring import (
    CheckResult,
    MailDomain,
    ServerTarget,
    Status,
    deliver_with_retry,
    monitoring_config,
    record_results,
)
from mailfleet.monitoring.config import validate_resolver
from webapp.extensions import db
from webapp.integrations import alert_router
from webapp.models import Domain, SqlHealthStore
from webapp.services import dnsdoctor

log = logging.getLogger(__name__)

_STATUS = {Readiness.READY: Status.OK, Readiness.PROPAGATING: Status.WARNING, Readiness.FAILING: Status.ERROR,
           Readiness.UNKNOWN: Status.UNKNOWN}


def doctor_config(app: Flask) -> DoctorConfig:
    monitoring = monitoring_config()
    resolvers = tuple(validate_resolver(a) for a in app.config["MAILFLEET_DNS_PANEL"])
    site_file = app.config.get(SITE_VARS_ENV)
    site = load_site_vars(Path(site_file))[0] if site_file else {}
    return DoctorConfig(
        # the site's DNS provider updates the zones of the domains mailfleet adds (their "Fix" is a run)
        managed=site.get("dns_provider", "rfc2136") if site_file else None,
        # CAA must allow the CA of the ACME directory the letsencrypt role uses (its default: staging)
        acme_ca=caa_identity(site.get("letsencrypt_directory", "letsencrypt_staging")),
        resolver=monitoring.resolver,
        resolver_port=monitoring.resolver_port,
        timeout=monitoring.dns_timeout,
        panel=resolvers or (monitoring.resolver,),
        ca_file=monitoring.ca_file,
        require_mta_sts=monitoring.require_mta_sts,
        ehlo_name=monitoring.ehlo_name,
        tls_timeout=monitoring.tls_timeout,
    )


def check_domain(domain_id: int) -> dict[str, object]:
    app = worker_app()
    with app.app_context():
        domain = db.session.get(Domain, domain_id)
        if domain is None:
            return {"checked": 0}
        return _check(app, [domain])


def check_due_domains() -> dict[str, object]:
    app = worker_app()
    with app.app_context():
        return _check(app, dnsdoctor.due_domains(utcnow()))


def _pairs(app: Flask, domains: Sequence[Domain]) -> list[tuple[Domain, ServerTarget, MailDomain]]:
    """Each domain with its server as the sweep sees it (addresses, mail host, Mailu's DKIM key)."""
    servers = {d.server_id for d in domains}
    # Mailu is asked for the DKIM keys of the servers concerned only
    found = targets(next(iter(servers)) if len(servers) == 1 else None, app)
    by_server = {t.name: t for t in found if t.name in {d.server.name for d in domains}}
    out = []
    for domain in domains:
        target = by_server.get(domain.server.name)
        mail_domain = next((m for m in target.domains if m.name == domain.name), None) if target else None
        if target is None or mail_domain is None:
            log.info("DNS of %s not checked: its server is not active with a mail host name", domain.name)
            continue
        out.append((domain, target, mail_domain))
    return out


def _check(app: Flask, domains: Sequence[Domain]) -> dict[str, object]:
    pairs = _pairs(app, domains)
    if not pairs:
        return {"checked": 0}
    reports = Doctor(doctor_config(app)).run_many([(t, m) for _, t, m in pairs])
    now = utcnow()
    results = []
    for (domain, target, _), report in zip(pairs, reports, strict=True):
        dnsdoctor.record_report(domain, report.to_dict(), now)
        results.append(_result(target.name, report))
    notes = record_results(SqlHealthStore(), results, monitoring_config().alerts)
    if notes:
        deliver_with_retry(alert_router(app), notes)
    return {"checked": len(pairs), **{r.value: sum(rep.status is r for rep in reports) for r in Readiness}}


def _result(server: str, report: Report) -> CheckResult:
    records = len(report.propagation)
    detail = "; ".join(report.reasons) or f"ready: every check passes and all {records} records agree"
    return CheckResult(server, f"dns:ready:{report.domain}", _STATUS[report.status], report.status.value,
                       detail[:1000], report.checked_at)
