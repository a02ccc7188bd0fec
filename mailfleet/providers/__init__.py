"""VPS providers behind one interface (``Provider``): the control plane, the jobs and the
inventory ask every provider the same questions. Adapters live in submodules
(``mailfleet.providers.hostwinds``), imported by whoever builds a client."""

from __future__ import annotations

from mailfleet.digitalocean.contract import MAIN_IP_FIXED as DIGITALOCEAN_MAIN_IP_FIXED
from mailfleet.providers.base import (
    RECORD_FIELDS,
    NotOfferedError,
    Plan,
    Provider,
    ProviderError,
    ServerRecord,
    ServerState,
    find_plan,
)

#: The providers mailfleet can order from, by the name stored with each server.
PROVIDER_NAMES: tuple[str, ...] = ("hostwinds", "digitalocean")
DEFAULT_PROVIDER = "hostwinds"
#: Why a provider's servers cannot move to a new main IP, for the providers where they cannot.
FIXED_MAIN_IP: dict[str, str] = {"digitalocean": DIGITALOCEAN_MAIN_IP_FIXED}

__all__ = [
    "DEFAULT_PROVIDER",
    "FIXED_MAIN_IP",
    "PROVIDER_NAMES",
    "RECORD_FIELDS",
    "NotOfferedError",
    "Plan",
    "Provider",
    "ProviderError",
    "ServerRecord",
    "ServerState",
    "find_plan",
]
