"""What a provider offers: its locations and plans with monthly prices, for the provisioning
form, to check what a form or an API call asks for, and the one price list every price the
control plane reckons with comes from (the spending limit, a new server's monthly price). Read
through the provider interface (mailfleet.providers) and kept for a few minutes per provider
(MAILFLEET_PROVIDER_CACHE_SECONDS): the lists change rarely, pages render often.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app

from mailfleet.providers import Plan, ProviderError
from mailfleet.regions import Region, by_region, region_of
from mailfleet.secrets import SecretsError
from webapp.errors import InvalidInput, UpstreamError
from webapp.integrations import UnknownProvider, provider_client, providers

_CACHE = "mailfleet_provider_offers"

__all__ = ["Offers", "Plan", "monthly_price", "offers"]


def monthly_price(plan: dict[str, Any] | None) -> Decimal | None:
    """A price-list entry's monthly price (the API gives prices as strings), None if it has none."""
    try:
        return Decimal(str(plan["monthly"])) if plan and plan.get("monthly") not in (None, "") else None
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class Offers:
    locations: tuple[str, ...]
    plans: tuple[Plan, ...]
    # The provider's region of each location, and its name ("hostwinds") and label.
    location_regions: Mapping[str, Region] = field(default_factory=dict)
    provider: str = ""
    label: str = "the provider"

    def plan(self, plan: str) -> Plan | None:
        """The plan by id or exact name, None if the provider does not offer it."""
        return next((p for p in self.plans if plan in (p.id, p.name)), None)

    def check(self, location: str, plan: str) -> Plan:
        """The plan ordered, refusing a location or plan the provider does not offer."""
        if location not in self.locations:
            raise InvalidInput(
                f"unknown location {location!r}; {self.label} offers {', '.join(self.locations)}"
            )
        found = self.plan(plan)
        if found is None:
            raise InvalidInput(
                f"unknown plan {plan!r}; {self.label} offers {', '.join(p.id for p in self.plans)}"
            )
        return found

    def region_of(self, location: str | None) -> Region | None:
        return region_of(location, self.location_regions)

    def by_region(self) -> dict[Region, list[str]]:
        """The offered locations of each region the provider serves."""
        return by_region(self.locations, self.location_regions)

    def place(self, region: Region, servers_by_location: Mapping[str, int]) -> str:
        """Where a new server in the region goes: of the region's offered locations (the provider
        lists only those it can sell now), the one holding fewest of the tenant's servers, so a
        tenant's servers spread over the region's data centres; the provider's order breaks ties."""
        offered = self.by_region().get(region)
        if not offered:
            served = "; ".join(f"{r.label}: {', '.join(names)}" for r, names in self.by_region().items())
            raise InvalidInput(f"{self.label} offers no location in {region.label} ({served or 'none'})")
        return min(offered, key=lambda name: (servers_by_location.get(name, 0), offered.index(name)))


def offers(name: str | None = None) -> Offers:
    """A provider's current offers (cached; the deployment's default provider unless named);
    InvalidInput for a provider the deployment does not use, UpstreamError when they cannot be read."""
    app = current_app
    known = providers()
    name = name or known[0]
    if name not in known:
        raise InvalidInput(str(UnknownProvider(name, known)))
    cache = app.extensions.setdefault(_CACHE, {})
    cached = cache.get(name)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        client = provider_client(name)
        found = Offers(tuple(client.locations()), tuple(client.plans()), client.location_regions,
                       client.name, client.label)
    except UnknownProvider as exc:
        raise InvalidInput(str(exc)) from None
    except (ProviderError, SecretsError, KeyError) as exc:
        raise UpstreamError(f"cannot read the provider's locations and plans ({name}): {exc}") from None
    cache[name] = (time.monotonic() + app.config["MAILFLEET_PROVIDER_CACHE_SECONDS"], found)
    return found
