"""Each provider's locations by region, for whoever knows a server's provider and location but
needs no client (the server table, the inventory)."""

from __future__ import annotations

from collections.abc import Mapping

from mailfleet.digitalocean.contract import LOCATION_REGIONS as DIGITALOCEAN_REGIONS
from mailfleet.hostwinds.contract import LOCATION_REGIONS as HOSTWINDS_REGIONS
from mailfleet.regions import Region

LOCATION_REGIONS: Mapping[str, Mapping[str, Region]] = {
    "hostwinds": HOSTWINDS_REGIONS,
    "digitalocean": DIGITALOCEAN_REGIONS,
}
