"""Where one testbed instance lives: its addresses, interface names and folders.

Instances are numbered so that several can run side by side (the demo on 0, tests on 1, each
developer on their own): instance N owns 198.18.N.0/24 (RFC 2544 benchmark range), loopback
addresses 127.77.N.x and its own state folder. Everything here is derived, nothing is stored.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

MAX_INSTANCE = 255
MAX_HOSTS = 200
FIRST_HOST_OCTET = 10


def cache_root() -> Path:
    """Caches kept across runs (the root filesystem, apt packages); read at call time."""
    return Path(os.environ.get("MAILFLEET_CACHE_DIR", "/var/cache/mailfleet"))


def state_root() -> Path:
    return Path(os.environ.get("MAILFLEET_TESTBED_STATE_DIR", "/var/lib/mailfleet/testbed"))


@dataclass(frozen=True)
class Layout:
    instance: int

    def __post_init__(self) -> None:
        if not 0 <= self.instance <= MAX_INSTANCE:
            raise ValueError(f"testbed instance must be 0..{MAX_INSTANCE}, got {self.instance}")

    # -- folders ---------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return state_root() / str(self.instance)

    @property
    def cache_dir(self) -> Path:
        return cache_root()

    # -- host network ----------------------------------------------------------------------
    @property
    def bridge(self) -> str:
        return f"mfbr{self.instance}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"198.18.{self.instance}.0/24")

    @property
    def gateway(self) -> str:
        """The controller's address on the hosts' bridge (apt proxy and resolver listen here too)."""
        return f"198.18.{self.instance}.1"

    def host_address(self, index: int) -> str:
        if not 0 <= index < MAX_HOSTS:
            raise ValueError(f"host index must be 0..{MAX_HOSTS - 1}")
        return f"198.18.{self.instance}.{FIRST_HOST_OCTET + index}"

    def host_veth(self, index: int) -> str:
        # Interface names are limited to 15 characters; instance and index keep them unique.
        return f"mf{self.instance}h{index}"

    def host_netns(self, index: int) -> str:
        return f"mailfleet-{self.instance}-{index}"

    # -- loopback services -----------------------------------------------------------------
    def loopback(self, last_octet: int) -> str:
        return f"127.77.{self.instance}.{last_octet}"

    @property
    def loopback_addresses(self) -> tuple[str, ...]:
        return tuple(self.loopback(i) for i in range(1, 9))

    @property
    def dns_primary(self) -> str:
        return self.loopback(1)

    @property
    def dns_secondary(self) -> str:
        return self.loopback(2)

    @property
    def resolver(self) -> str:
        return self.loopback(3)

    @property
    def resolver2(self) -> str:
        """A second resolver, fed by the secondary: the propagation view compares the two."""
        return self.loopback(7)

    @property
    def pebble(self) -> str:
        return self.loopback(4)

    @property
    def redis(self) -> str:
        return self.loopback(5)

    @property
    def doubles(self) -> str:
        return self.loopback(6)

    @property
    def notify_relay(self) -> str:
        return self.loopback(8)
