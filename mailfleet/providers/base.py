"""The provider interface: what mailfleet asks of a VPS provider, in the same words for every one.

A provider is an object with this shape (``Provider``); each adapter maps its API's fields, states
and locations onto it, so the control plane, the jobs and the inventory hold one code path. Server
records are plain JSON-safe dicts (the inventory's host variables and the server table's row share
them); ``RECORD_FIELDS`` names what every record has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from mailfleet.regions import Region
from mailfleet.validation import ValidationError


class ServerState(StrEnum):
    """A server's state as the provider reports it, in one vocabulary for every provider."""

    BUILDING = "building"
    ACTIVE = "active"
    STOPPED = "stopped"
    ERROR = "error"


class ProviderError(Exception):
    """Base of every provider client's errors; the message says what the user should do next."""


class NotOfferedError(ProviderError):
    """The provider has no way to do what was asked (nothing was changed)."""


@dataclass(frozen=True)
class Plan:
    """One size a provider sells. ``id`` is what an order names (Hostwinds' rid, a DigitalOcean
    size slug); ``monthly`` None when the provider gives no price."""

    id: str
    name: str
    monthly: Decimal | None
    ram_mb: int | None = None
    disk_gb: int | None = None
    bandwidth_gb: int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} (${self.monthly}/month)" if self.monthly else self.name


#: Keys of every server record: provider, provider_id (int), name (the label, mf-<tenant>-<n>),
#: hostname, status (the provider's own word), state (ServerState), location, region, tenant,
#: plan (name), plan_id, monthly_price (a decimal string, never a float), public_ipv4, public_ipv6,
#: private_ipv4, mail_hostname (the PTR of the main IPv4), bandwidth and bandwidth_used (GB),
#: extra_ipv4 (how many public IPv4 addresses it holds beside the main one: billed apart).
RECORD_FIELDS: tuple[str, ...] = (
    "provider", "provider_id", "name", "hostname", "status", "state", "location", "region", "tenant",
    "plan", "plan_id", "monthly_price", "public_ipv4", "public_ipv6", "private_ipv4", "mail_hostname",
    "bandwidth", "bandwidth_used", "extra_ipv4",
)

ServerRecord = dict[str, Any]


def find_plan(plans: list[Plan], wanted: str, provider_label: str) -> Plan:
    """The plan named by its id or its exact name; else a clear error listing what is sold."""
    wanted = str(wanted).strip()
    for plan in plans:
        if wanted in (plan.id, plan.name):
            return plan
    known = ", ".join(f"{p.id} ({p.label})" for p in plans)
    raise ValidationError(f"{provider_label} sells no plan {wanted!r}; its plans: {known}")


ClientT = TypeVar("ClientT")


class ProviderAdapter(Generic[ClientT]):
    """What every adapter is built of: its provider's names and locations, and one API client
    (its retries, redaction and errors as they are)."""

    name: str
    label: str
    location_regions: Mapping[str, Region]

    def __init__(self, client: ClientT) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"


@runtime_checkable
class Provider(Protocol):
    """One provider account. Every method raises a ``ProviderError`` subclass on failure."""

    #: Short name stored with each server ("hostwinds", "digitalocean").
    name: str
    #: Shown to users ("Hostwinds", "DigitalOcean").
    label: str
    #: The region of each location name the provider offers (mailfleet.regions).
    location_regions: Mapping[str, Region]

    def locations(self) -> list[str]:
        """Location names a new server can be ordered in now."""
        ...

    def plans(self) -> list[Plan]:
        """Sizes with their monthly prices."""
        ...

    def servers(self) -> list[ServerRecord]:
        """Every server on the account, as records."""
        ...

    def server(self, provider_id: int) -> ServerRecord:
        """One server by its provider id."""
        ...

    def create(self, name: str, *, plan: str, location: str, image: str,
               ssh_public_key: str | None = None) -> ServerRecord:
        """Order a server labelled ``name`` (unique on the account; an existing one is refused)."""
        ...

    def wait_active(self, provider_id: int, *, timeout: float) -> ServerRecord:
        """Poll until the server is active; a timeout or an error state raises."""
        ...

    def reboot(self, provider_id: int) -> None: ...

    def resize(self, provider_id: int, plan: str, *, timeout: float) -> tuple[ServerRecord, bool]:
        """The server runs on ``plan`` (a plan's id): ordered, applied and confirmed as the provider
        needs it, waited for. Returns the record and whether anything changed (not when it already
        ran on the plan), so a second run changes nothing."""
        ...

    def change_main_ip(self, provider_id: int, *, timeout: float) -> str:
        """A new main IPv4 for the server, waited for; returns it. ``NotOfferedError`` where the
        provider cannot change it."""
        ...

    def set_ptr(self, provider_id: int, ip: str, hostname: str) -> None:
        """The reverse DNS (PTR) of one of the server's addresses."""
        ...

    def ptr(self, provider_id: int, ip: str) -> str | None: ...

    def destroy(self, provider_id: int) -> None:
        """Delete the server; an id already gone is not an error."""
        ...
