"""Health and reputation monitoring of the mail fleet.

    from mailfleet.monitoring import MonitoringConfig, ServerTarget, SweepEngine, record_results
    config = MonitoringConfig.from_mapping({"resolver": "10.0.0.53"})   # the project's own resolver
    report = SweepEngine(config).run([ServerTarget(name="mail1", hostname="mail.example.com",
                                                   ipv4=("192.0.2.10",))])
    notifications = record_results(store, report.results, config.alerts)
    router.deliver(notifications)

Storage-agnostic: the web app implements `HealthStore`; everything else is pure Python.
"""

from __future__ import annotations

from .alerts import (
    Alert,
    AlertEvent,
    AlertPolicies,
    AlertPolicy,
    AlertState,
    AlertStateError,
    Channel,
    CheckState,
    EventKind,
    Notification,
    NotificationKind,
    Transition,
    acknowledge,
    evaluate,
    retire,
    tick,
)
from .channels import notification_router
from .config import DEFAULT_PORTS, MonitoringConfig, monitoring_config, validate_resolver
from .dnsbl import (
    DEFAULT_DOMAIN_LISTS,
    DEFAULT_IP_LISTS,
    DnsblList,
    ListKind,
    ReturnCode,
    classify,
    query_name,
)
from .engine import SweepEngine, SweepReport
from .errors import FactsError, MonitoringConfigError, MonitoringError, NotificationError
from .facts import FACTS_MAX_AGE, FactsThresholds, evaluate_facts, facts_results, parse_facts
from .notify import (
    Delivery,
    EmailNotifier,
    NotificationRouter,
    WebhookNotifier,
    deliver_with_retry,
    sign,
    verify_signature,
)
from .results import CheckResult, Severity, Status
from .store import HealthStore, InMemoryHealthStore, escalate_due, record_results, retire_server
from .targets import MailDomain, ProbeCredentials, ServerTarget

__all__ = [
    "deliver_with_retry",
    "facts_results",
    "monitoring_config",
    "notification_router",
    "DEFAULT_DOMAIN_LISTS",
    "DEFAULT_IP_LISTS",
    "DEFAULT_PORTS",
    "FACTS_MAX_AGE",
    "Alert",
    "AlertEvent",
    "AlertPolicies",
    "AlertPolicy",
    "AlertState",
    "AlertStateError",
    "Channel",
    "CheckResult",
    "CheckState",
    "Delivery",
    "DnsblList",
    "EmailNotifier",
    "EventKind",
    "FactsError",
    "FactsThresholds",
    "HealthStore",
    "InMemoryHealthStore",
    "ListKind",
    "MailDomain",
    "MonitoringConfig",
    "MonitoringConfigError",
    "MonitoringError",
    "Notification",
    "NotificationError",
    "NotificationKind",
    "NotificationRouter",
    "ProbeCredentials",
    "ReturnCode",
    "ServerTarget",
    "Severity",
    "Status",
    "SweepEngine",
    "SweepReport",
    "Transition",
    "WebhookNotifier",
    "acknowledge",
    "classify",
    "escalate_due",
    "evaluate",
    "evaluate_facts",
    "parse_facts",
    "query_name",
    "record_results",
    "retire",
    "retire_server",
    "sign",
    "tick",
    "validate_resolver",
    "verify_signature",
]
