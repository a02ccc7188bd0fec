"""What the provider offers: its locations and plans with monthly prices, for the provisioning
form, to check what a form or an API call asks for, and the one price list every price the
control plane reckons with comes from (the spending limit, a new server's monthly price). Read
from the Hostwinds client and kept for a few minutes (MAILFLEET_PROVIDER_CACHE_SECONDS): the
lists change rarely, pages render often.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app

from mailfleet.hostwinds import HostwindsError
from mailfleet.hostwinds.contract import LOCATION_REGIONS
from mailfleet.regions import Region, by_region, region_of
from mailfleet.secrets import SecretsError
from webapp.errors import InvalidInput, UpstreamError
from webapp.integrations import hostwinds_client

_CACHE = "mailfleet_provider_offers"


def monthly_price(plan: dict[str, Any] | None) -> Decimal | None:
    """A price-list entry's monthly price (the API gives prices as strings), None if it has none."""
    try:
        return Decimal(str(plan["monthly"])) if plan and plan.get("monthly") not in (None, "") else None
    except InvalidOperation:
        return None


def _whole(value: Any) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Plan:
    rid: str
    name: str
    monthly: Decimal | None
    # What the plan gives, for capacity recommendations (None: the price list did not say).
    ram_mb: int | None = None
    disk_gb: int | None = None
    bandwidth_gb: int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} (${self.monthly}/month)" if self.monthly else self.name


@dataclass(frozen=True)
class Offers:
    locations: tuple[str, ...]
    plans: tuple[Plan, ...]

    def plan(self, plan: str) -> Plan | None:
        """The plan by rid or exact name, None if the provider does not offer it."""
        return next((p for p in self.plans if plan in (p.rid, p.name)), None)

    def check(self, location: str, plan: str) -> Plan:
        """The plan ordered, refusing a location or plan the provider does not offer."""
        if location not in self.locations:
            raise InvalidInput(
                f"unknown location {location!r}; the provider offers {', '.join(self.locations)}"
            )
        found = self.plan(plan)
        if found is None:
            raise InvalidInput(
                f"unknown plan {plan!r}; the provider offers {', '.join(p.rid for p in self.plans)}"
            )
        return found

    def region_of(self, location: str | None) -> Region | None:
        return region_of(location, LOCATION_REGIONS)

    def by_region(self) -> dict[Region, list[str]]:
        """The offered locations of each region the provider serves."""
        return by_region(self.locations, LOCATION_REGIONS)

    def place(self, region: Region, servers_by_location: Mapping[str, int]) -> str:
        """Where a new server in the region goes: of the region's offered locations (the provider
        lists only those it can sell now), the one holding fewest of the tenant's servers, so a
        tenant's servers spread over the region's data centres; the provider's order breaks ties."""
        offered = self.by_region().get(region)
        if not offered:
            served = "; ".join(f"{r.label}: {', '.join(names)}" for r, names in self.by_region().items())
            raise InvalidInput(f"the provider offers no location in {region.label} ({served or 'none'})")
        return min(offered, key=lambda name: (servers_by_location.get(name, 0), offered.index(name)))


def offers() -> Offers:
    """The provider's current offers (cached); UpstreamError when they cannot be read."""
    app = current_app
    cached = app.extensions.get(_CACHE)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        client = hostwinds_client()
        locations = tuple(str(loc["name"]) for loc in client.locations() if loc.get("name"))
        plans = tuple(
            Plan(
                str(p["rid"]),
                str(p.get("name") or p["rid"]),
                monthly_price(p),
                _whole(p.get("ram")),
                _whole(p.get("disk")),
                _whole(p.get("bandwidth")),
            )
            for p in client.price_list()
            if p.get("rid") is not None
        )
    except (HostwindsError, SecretsError, KeyError) as exc:
        raise UpstreamError(f"cannot read the provider's locations and plans: {exc}") from None
    found = Offers(locations, plans)
    app.extensions[_CACHE] = (time.monotonic() + app.config["MAILFLEET_PROVIDER_CACHE_SECONDS"], found)
    return found
