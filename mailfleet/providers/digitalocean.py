"""DigitalOcean behind the provider interface: droplets as server records, region slugs as
locations, size slugs as plans. The label (mf-<tenant>-<n>) rides on a tag, since a droplet's
name is what DigitalOcean publishes as the PTR of its addresses: setting the PTR renames it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mailfleet.digitalocean import DigitalOceanClient, NotFoundError, label_of
from mailfleet.digitalocean import contract as c
from mailfleet.hostwinds.naming import parse_srvrname, validate_label
from mailfleet.providers.base import (
    NotOfferedError,
    Plan,
    ProviderAdapter,
    ServerRecord,
    ServerState,
    find_plan,
)
from mailfleet.regions import Region, region_of

STATES: Mapping[str, ServerState] = {
    c.STATUS_NEW: ServerState.BUILDING,
    c.STATUS_ACTIVE: ServerState.ACTIVE,
    c.STATUS_OFF: ServerState.STOPPED,
    c.STATUS_ARCHIVE: ServerState.STOPPED,
}


def _address(droplet: dict[str, Any], version: str, kind: str) -> str | None:
    for entry in (droplet.get("networks") or {}).get(version) or ():
        if entry.get("type") == kind and entry.get("ip_address"):
            return str(entry["ip_address"])
    return None


def _extra_ipv4(droplet: dict[str, Any]) -> int:
    """Public IPv4 addresses of the droplet beside its main one."""
    networks = (droplet.get("networks") or {}).get("v4") or ()
    public = {e.get("ip_address") for e in networks if e.get("type") == "public"}
    return max(0, len(public - {None}) - 1)


def _fqdn(name: str | None) -> str | None:
    """The droplet's name when it is a host name DigitalOcean would publish as the PTR."""
    if not name or "." not in name:
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name.lower()
    return None


def server_record(droplet: dict[str, Any]) -> ServerRecord:
    size = droplet.get("size") or {}
    region = (droplet.get("region") or {}).get("slug")
    label = label_of(droplet)
    parsed = parse_srvrname(label)
    price = size.get("price_monthly")
    transfer = size.get("transfer")
    return {
        "provider": DigitalOceanProvider.name,
        "provider_id": int(droplet["id"]),
        "name": label,
        "hostname": droplet.get("name"),
        "status": droplet.get("status"),
        "state": STATES.get(str(droplet.get("status")), ServerState.ERROR).value,
        "location": region,
        "region": region_of(region, c.LOCATION_REGIONS),
        "tenant": parsed.tenant if parsed else None,
        "plan": droplet.get("size_slug") or size.get("slug"),
        "plan_id": droplet.get("size_slug") or size.get("slug"),
        # price_monthly is a JSON number: through str so no float rounding reaches the costs.
        "monthly_price": None if price is None else str(Decimal(str(price)).quantize(Decimal("0.01"))),
        "public_ipv4": _address(droplet, "v4", "public"),
        "extra_ipv4": _extra_ipv4(droplet),
        "public_ipv6": _address(droplet, "v6", "public"),
        "private_ipv4": _address(droplet, "v4", "private"),
        "mail_hostname": _fqdn(droplet.get("name")),
        "bandwidth": None if transfer is None else round(float(transfer) * 1000),
        "bandwidth_used": None,  # the API does not report transfer used
    }


class DigitalOceanProvider(ProviderAdapter[DigitalOceanClient]):
    """The provider interface over one DigitalOceanClient."""

    name = "digitalocean"
    label = "DigitalOcean"
    location_regions: Mapping[str, Region] = c.LOCATION_REGIONS

    def locations(self) -> list[str]:
        return [str(r["slug"]) for r in self.client.regions() if r.get("available") and r.get("slug")]

    def plans(self) -> list[Plan]:
        return [
            Plan(str(s["slug"]), str(s.get("description") or s["slug"]),
                 None if s.get("price_monthly") is None else Decimal(str(s["price_monthly"])).quantize(
                     Decimal("0.01")),
                 s.get("memory"), s.get("disk"),
                 None if s.get("transfer") is None else round(float(s["transfer"]) * 1000))
            for s in self.client.sizes()
            if s.get("available", True) and s.get("slug")
        ]

    def servers(self) -> list[ServerRecord]:
        return [server_record(d) for d in self.client.droplets()]

    def server(self, provider_id: int) -> ServerRecord:
        return server_record(self.client.droplet(provider_id))

    def create(self, name: str, *, plan: str, location: str, image: str,
               ssh_public_key: str | None = None) -> ServerRecord:
        name = validate_label(name)
        keys = [self.client.add_ssh_key(name, ssh_public_key)] if ssh_public_key else []
        return server_record(self.client.create_droplet(name, region=location, size=plan, image=image,
                                                        ssh_keys=keys))

    def wait_active(self, provider_id: int, *, timeout: float) -> ServerRecord:
        return server_record(self.client.wait_for_status(provider_id, c.STATUS_ACTIVE, timeout=timeout))

    def reboot(self, provider_id: int) -> None:
        self.client.run_action(provider_id, "reboot")

    def resize(self, provider_id: int, plan: str, *,
               timeout: float = c.BUILD_TIMEOUT_S) -> tuple[ServerRecord, bool]:
        """Off, resize (disk too: the plan's disk is what the tenant pays for), on again. A droplet
        an earlier run resized but left off is only powered on."""
        size = find_plan(self.plans(), plan, self.label).id
        droplet = self.client.droplet(provider_id)
        if droplet.get("size_slug") == size and droplet.get("status") == c.STATUS_ACTIVE:
            return server_record(droplet), False
        if droplet.get("size_slug") != size:
            if droplet.get("status") != c.STATUS_OFF:
                self.client.run_action(provider_id, "power_off", timeout=timeout)
            self.client.run_action(provider_id, "resize", timeout=timeout, size=size, disk=True)
        self.client.run_action(provider_id, "power_on", timeout=timeout)
        return self.server(provider_id), True

    def change_main_ip(self, provider_id: int, *, timeout: float = c.BUILD_TIMEOUT_S) -> str:
        raise NotOfferedError(f"{c.MAIN_IP_FIXED}. Nothing was changed.")

    def set_ptr(self, provider_id: int, ip: str, hostname: str) -> None:
        if self.client.droplet(provider_id).get("name") != hostname:
            self.client.run_action(provider_id, "rename", name=hostname)

    def ptr(self, provider_id: int, ip: str) -> str | None:
        return _fqdn(self.client.droplet(provider_id).get("name"))

    def destroy(self, provider_id: int) -> None:
        try:
            self.client.delete_droplet(provider_id)
        except NotFoundError:
            return
