"""Hostwinds behind the provider interface: the Hostwinds client, unchanged, with its instance
fields, statuses and location ids mapped onto server records (mailfleet.providers.base)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mailfleet.hostwinds import HostwindsClient
from mailfleet.hostwinds import contract as c
from mailfleet.hostwinds.errors import InvalidServiceIdError
from mailfleet.hostwinds.instances import extra_ipv4, instance_records, on_plan, plan_rid
from mailfleet.hostwinds.naming import validate_label
from mailfleet.providers.base import Plan, ProviderAdapter, ServerRecord, ServerState
from mailfleet.regions import Region

STATES: Mapping[str, ServerState] = {
    c.InstanceStatus.ACTIVE: ServerState.ACTIVE,
    c.InstanceStatus.RESIZED: ServerState.ACTIVE,
    c.InstanceStatus.BUILD: ServerState.BUILDING,
    c.InstanceStatus.REBUILD: ServerState.BUILDING,
    c.InstanceStatus.SHUTOFF: ServerState.STOPPED,
    c.InstanceStatus.ERROR: ServerState.ERROR,
}


def _whole(value: Any) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _price(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def server_record(record: Mapping[str, Any]) -> ServerRecord:
    """A Hostwinds inventory record (mailfleet.hostwinds.instances.inventory_record) as a server record."""
    status = str(record.get("status") or "")
    return {
        "provider": HostwindsProvider.name,
        "provider_id": int(record["serviceid"]),
        "name": record.get("srvrname") or record.get("hostname") or f"hostwinds-{record['serviceid']}",
        "hostname": record.get("hostname") or None,
        "status": status or None,
        "state": STATES.get(status.upper(), ServerState.BUILDING).value,
        "location": record.get("location") or (str(record.get("location_id") or "") or None),
        "region": record.get("region"),
        "tenant": record.get("tenant"),
        "plan": record.get("plan"),
        "plan_id": None if record.get("plan_rid") is None else str(record["plan_rid"]),
        "monthly_price": record.get("monthly_price"),
        "public_ipv4": record.get("public_ipv4"),
        "extra_ipv4": extra_ipv4(record),
        "public_ipv6": record.get("public_ipv6"),
        "private_ipv4": record.get("private_ipv4"),
        "mail_hostname": record.get("mail_hostname"),
        "bandwidth": record.get("bandwidth"),
        "bandwidth_used": record.get("bandwidth_used"),
    }


class HostwindsProvider(ProviderAdapter[HostwindsClient]):
    """The provider interface over one HostwindsClient."""

    name = "hostwinds"
    label = "Hostwinds"
    location_regions: Mapping[str, Region] = c.LOCATION_REGIONS

    def locations(self) -> list[str]:
        return [str(loc["name"]) for loc in self.client.locations() if loc.get("name")]

    def plans(self) -> list[Plan]:
        return [
            Plan(str(p["rid"]), str(p.get("name") or p["rid"]), _price(p.get("monthly")),
                 _whole(p.get("ram")), _whole(p.get("disk")), _whole(p.get("bandwidth")))
            for p in self.client.price_list()
            if p.get("rid") is not None
        ]

    def _records(self, instances: list[dict[str, Any]]) -> list[ServerRecord]:
        records = instance_records(self.client, instances, self.client.price_list())
        return [server_record(r) for r in records if str(r.get("serviceid", "")).isdigit()]

    def servers(self) -> list[ServerRecord]:
        return self._records(self.client.list_instances())

    def server(self, provider_id: int) -> ServerRecord:
        return self._records([self.client.get_instance(provider_id)])[0]

    def create(self, name: str, *, plan: str, location: str, image: str,
               ssh_public_key: str | None = None) -> ServerRecord:
        name = validate_label(name)
        rid = plan_rid(self.client.price_list(), plan)
        location_id = self.client.location_id(location)
        keys = [self.client.add_ssh_key(name, ssh_public_key)] if ssh_public_key else []
        instance = self.client.add_instance(name, rid, location_id, image, ssh_key_ids=keys)
        return self._records([instance])[0]

    def wait_active(self, provider_id: int, *, timeout: float) -> ServerRecord:
        instance = self.client.wait_for_status(provider_id, {c.InstanceStatus.ACTIVE}, timeout=timeout)
        return self._records([instance])[0]

    def reboot(self, provider_id: int) -> None:
        self.client.reboot(provider_id)

    def resize(self, provider_id: int, plan: str, *,
               timeout: float = c.BUILD_TIMEOUT_S) -> tuple[ServerRecord, bool]:
        """The upgrade order, applied and confirmed; an upgrade an earlier run applied but did not
        confirm (RESIZED on the plan) is only confirmed."""
        plans = self.client.price_list()
        rid = plan_rid(plans, plan)
        instance = self.client.get_instance(provider_id)
        if on_plan(instance, rid, plans) and instance.get("status") == c.InstanceStatus.ACTIVE:
            return self._records([instance])[0], False
        if on_plan(instance, rid, plans) and instance.get("status") == c.InstanceStatus.RESIZED:
            instance = self.client.confirm_upgrade(provider_id, timeout=timeout)
        else:
            instance = self.client.resize(provider_id, rid, timeout=timeout)
        return self._records([instance])[0], True

    def change_main_ip(self, provider_id: int, *, timeout: float = c.MAIN_IP_CHANGE_TIMEOUT_S) -> str:
        return self.client.change_main_ip(provider_id, timeout=timeout)

    def set_ptr(self, provider_id: int, ip: str, hostname: str) -> None:
        self.client.set_rdns(provider_id, ip, hostname)

    def ptr(self, provider_id: int, ip: str) -> str | None:
        return self.client.get_rdns(provider_id, ip)

    def destroy(self, provider_id: int) -> None:
        try:
            self.client.terminate(provider_id)
        except InvalidServiceIdError:
            return


