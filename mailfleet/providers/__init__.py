"""VPS providers behind one interface (``Provider``): the control plane, the jobs and the
inventory ask every provider the same questions. Adapters live in submodules
(``mailfleet.providers.hostwinds``), imported by whoever builds a client."""

from __future__ import annotations

from mailfleet.providers.base import RECORD_FIELDS, Plan, Provider, ProviderError, ServerRecord, ServerState

#: The providers mailfleet can order from, by the name stored with each server.
PROVIDER_NAMES: tuple[str, ...] = ("hostwinds", "digitalocean")
DEFAULT_PROVIDER = "hostwinds"

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDER_NAMES",
    "RECORD_FIELDS",
    "Plan",
    "Provider",
    "ProviderError",
    "ServerRecord",
    "ServerState",
]
