"""Regions: where a server runs, as a user chooses it (United States, Europe, Asia), over the
provider's own location names. Each provider's contract maps its locations to regions; a location
no table names belongs to no region (it can still be ordered by name, not placed by region)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Region(StrEnum):
    US = "us"
    EU = "eu"
    ASIA = "asia"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Region.US: "United States", Region.EU: "Europe", Region.ASIA: "Asia"}


class UnknownRegion(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(f"unknown region {value!r}; regions are {', '.join(r.value for r in Region)}")


def parse_region(value: str) -> Region:
    """The region a user typed ("EU", "eu", "Europe"), or UnknownRegion."""
    word = (value or "").strip().lower()
    for region in Region:
        if word in (region.value, region.label.lower()):
            return region
    raise UnknownRegion(value)


def region_of(location: str | None, table: Mapping[str, Region]) -> Region | None:
    """The region of a provider location (names compared case-insensitively), None if unmapped."""
    if not location:
        return None
    wanted = location.strip().lower()
    return next((region for name, region in table.items() if name.lower() == wanted), None)


def by_region(locations: Iterable[str], table: Mapping[str, Region]) -> dict[Region, list[str]]:
    """The offered locations grouped by region, in the provider's order (unmapped ones left out)."""
    grouped: dict[Region, list[str]] = {}
    for location in locations:
        region = region_of(location, table)
        if region is not None:
            grouped.setdefault(region, []).append(location)
    return grouped
