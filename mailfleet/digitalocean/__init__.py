"""The DigitalOcean API v2 client shared by the provider adapter, the inventory and the modules.

Every assumption about the API lives in `mailfleet.digitalocean.contract`, which the double imports too.
"""

from __future__ import annotations

from mailfleet.digitalocean.client import DigitalOceanClient, label_of
from mailfleet.digitalocean.contract import DEFAULT_API_URL, LOCATION_REGIONS
from mailfleet.digitalocean.errors import (
    ConfigurationError,
    DigitalOceanError,
    DropletExistsError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    TimeoutWaitingError,
    TransportError,
    UnprocessableError,
)

__all__ = [
    "DEFAULT_API_URL",
    "LOCATION_REGIONS",
    "ConfigurationError",
    "DigitalOceanClient",
    "DigitalOceanError",
    "DropletExistsError",
    "NotAuthorizedError",
    "NotFoundError",
    "RateLimitedError",
    "TimeoutWaitingError",
    "TransportError",
    "UnprocessableError",
    "label_of",
]
