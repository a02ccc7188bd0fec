"""The Hostwinds Cloud API client shared by the inventory plugin, the Ansible modules and the app.

Assumptions about the API live in `mailfleet.hostwinds.contract`; secrets (`password`,
`configkey`) are stripped from every response before callers see it.
"""

from __future__ import annotations

from mailfleet.hostwinds.client import HostwindsClient
from mailfleet.hostwinds.contract import DEFAULT_API_URL, Action, InstanceStatus
from mailfleet.hostwinds.errors import (
    AmbiguousResultError,
    ApiError,
    ConfigurationError,
    ContractError,
    CooldownError,
    HostwindsError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidServiceIdError,
    NotAuthorizedError,
    TimeoutWaitingError,
    TransportError,
    UnknownActionError,
    UpgradeInProgressError,
)
from mailfleet.hostwinds.instances import addresses, find_plan, tenant_of
from mailfleet.hostwinds.naming import (
    ServerName,
    build_srvrname,
    next_drill_name,
    next_server_name,
    next_srvrname,
    ordered_name,
    parse_srvrname,
)

__all__ = [
    "DEFAULT_API_URL",
    "Action",
    "AmbiguousResultError",
    "ApiError",
    "ConfigurationError",
    "ContractError",
    "CooldownError",
    "HostwindsClient",
    "HostwindsError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstanceStatus",
    "InvalidServiceIdError",
    "NotAuthorizedError",
    "ServerName",
    "TimeoutWaitingError",
    "TransportError",
    "UnknownActionError",
    "UpgradeInProgressError",
    "addresses",
    "build_srvrname",
    "find_plan",
    "next_drill_name",
    "next_server_name",
    "next_srvrname",
    "ordered_name",
    "parse_srvrname",
    "tenant_of",
]
