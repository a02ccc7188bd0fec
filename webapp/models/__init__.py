"""The database models, one module per area; this module only collects them.

Another area (monitoring, billing) adds its own module here and one import line below.
"""

from __future__ import annotations

from webapp.models.backups import ServerBackup
from webapp.models.fleet import Domain, DomainStatus, Mailbox, Server, ServerStatus
from webapp.models.health import HealthAlert, HealthAlertEvent, HealthCheck, HealthResult, SqlHealthStore
from webapp.models.reputation import IpChange, ListingHold, MailCount, SendingCap, WarmupPlan
from webapp.models.rollouts import Rollout, RolloutStatus, RolloutTarget
from webapp.models.runs import FINISHED_STATUSES, Run, RunEvent, RunLock, RunStatus, RunTrigger
from webapp.models.scaling import AutoScalePolicy, ScaleAction, ScaleDecision
from webapp.models.setup_times import AttemptResult, DnsPropagation, MailboxAttempt
from webapp.models.tenancy import AutoScale, LoginFailure, Role, Tenant, User
from webapp.models.usage import CostPeriod, MailboxUsage, UsageSample, UsageTotal

__all__ = [
    "AttemptResult",
    "AutoScale",
    "AutoScalePolicy",
    "CostPeriod",
    "DnsPropagation",
    "FINISHED_STATUSES",
    "Domain",
    "DomainStatus",
    "HealthAlert",
    "HealthAlertEvent",
    "HealthCheck",
    "HealthResult",
    "IpChange",
    "ListingHold",
    "LoginFailure",
    "MailCount",
    "Mailbox",
    "MailboxAttempt",
    "MailboxUsage",
    "Role",
    "Rollout",
    "RolloutStatus",
    "RolloutTarget",
    "Run",
    "RunEvent",
    "RunLock",
    "RunStatus",
    "RunTrigger",
    "ScaleAction",
    "ScaleDecision",
    "SendingCap",
    "Server",
    "ServerBackup",
    "ServerStatus",
    "SqlHealthStore",
    "Tenant",
    "UsageSample",
    "UsageTotal",
    "User",
    "WarmupPlan",
]
