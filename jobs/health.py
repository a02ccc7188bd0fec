"""Health sweep of every active server (every 5 minutes from rq cron; also on demand for one server).

The engine (mailfleet.monitoring) does the checking and the alert decisions; this job only builds
the targets from the database, stores through SqlHealthStore and hands notifications to the
configured channels. Settings (environment, `*_FILE` for secrets):

    MAILFLEET_MONITORING_RESOLVER      the project's own recursive resolver (required; public ones refused)
    MAILFLEET_MONITORING_CONFIG_FILE   optional JSON with any MonitoringConfig setting
    MAILFLEET_ALERT_SMTP_HOST / _PORT / _FROM / _TO / _ESCALATION_TO
    MAILFLEET_ALERT_WEBHOOK_URL, MAILFLEET_ALERT_WEBHOOK_SECRET(_FILE), MAILFLEET_ALERT_ESCALATION_WEBHOOK_URL
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jobs.app import worker_app
from mailfleet.monitoring import (
    EmailNotifier,
    MailDomain,
    MonitoringConfig,
    MonitoringConfigError,
    NotificationRouter,
    ServerTarget,
    SweepEngine,
    WebhookNotifier,
    escalate_due,
    record_results,
)
from mailfleet.monitoring.results import utcnow
from webapp.extensions import db
from webapp.models import Server, ServerStatus, SqlHealthStore

log = logging.getLogger(__name__)

SWEEP_EVERY = 300  # seconds: the 5-minute cadence


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    path = env.get(f"{name}_FILE")
    if path:
        value = Path(path).read_text().strip()
    return value or None


def monitoring_config(env: Mapping[str, str] | None = None) -> MonitoringConfig:
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = env.get("MAILFLEET_MONITORING_CONFIG_FILE")
    if path:
        data = json.loads(Path(path).read_text())
    resolver = env.get("MAILFLEET_MONITORING_RESOLVER")
    if resolver:
        data["resolver"] = resolver
    return MonitoringConfig.from_mapping(data)


def notification_router(env: Mapping[str, str] | None = None) -> NotificationRouter:
    env = os.environ if env is None else env
    primary: list[Any] = []
    escalation: list[Any] = []
    host, sender = env.get("MAILFLEET_ALERT_SMTP_HOST"), env.get("MAILFLEET_ALERT_FROM")
    port = int(env.get("MAILFLEET_ALERT_SMTP_PORT") or 25)
    if host and sender and env.get("MAILFLEET_ALERT_TO"):
        primary.append(EmailNotifier(host, sender, tuple(env["MAILFLEET_ALERT_TO"].split(",")), port=port))
    if host and sender and env.get("MAILFLEET_ALERT_ESCALATION_TO"):
        escalation.append(
            EmailNotifier(
                host,
                sender,
                tuple(env["MAILFLEET_ALERT_ESCALATION_TO"].split(",")),
                port=port,
                name="email-escalation",
            )
        )
    secret = _env(env, "MAILFLEET_ALERT_WEBHOOK_SECRET")
    for key, channel in (
        ("MAILFLEET_ALERT_WEBHOOK_URL", primary),
        ("MAILFLEET_ALERT_ESCALATION_WEBHOOK_URL", escalation),
    ):
        if env.get(key):
            if not secret:
                raise MonitoringConfigError(f"{key} needs MAILFLEET_ALERT_WEBHOOK_SECRET(_FILE)")
            channel.append(WebhookNotifier(env[key], secret.encode()))
    return NotificationRouter(tuple(primary), tuple(escalation))


def targets(server_id: int | None = None) -> list[ServerTarget]:
    """Active servers with a host name and a public address (others cannot be checked from outside)."""
    query = select(Server).where(Server.status == ServerStatus.ACTIVE, Server.hostname.is_not(None))
    if server_id is not None:
        query = query.where(Server.id == server_id)
    out = []
    for s in db.session.scalars(query):
        if not (s.public_ipv4 or s.public_ipv6):
            continue
        out.append(
            ServerTarget(
                name=s.name,
                hostname=s.hostname,
                ipv4=(s.public_ipv4,) if s.public_ipv4 else (),
                ipv6=(s.public_ipv6,) if s.public_ipv6 else (),
                domains=tuple(MailDomain(d.name) for d in s.domains),
            )
        )
    return out


def sweep_health(server_id: int | None = None) -> dict[str, int]:
    """One sweep (all active servers, or one); returns counts for the job's result."""
    app = worker_app()
    with app.app_context():
        config = monitoring_config()
        router = notification_router()
        store = SqlHealthStore()
        found = targets(server_id)
        report = SweepEngine(config).run(found)
        notes = record_results(store, report.results, config.alerts)
        notes += escalate_due(store, config.alerts, utcnow())
        deliveries = router.deliver(notes)
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
