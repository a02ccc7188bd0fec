"""Pure helpers over (redacted) instance and plan dicts: addresses, plan join, tenant, and the one
mapping of an instance to its record (the inventory's host variables and the server table's row)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Mapping
from typing import Any, Protocol

from mailfleet.hostwinds import contract as c
from mailfleet.hostwinds.errors import HostwindsError
from mailfleet.hostwinds.naming import parse_srvrname
from mailfleet.regions import region_of
from mailfleet.validation import ValidationError


def _ip_strings(value: Any) -> list[str]:
    """IPs from a string, a comma/space separated string, a list, or a list of {"ip": ...}."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            out.extend(_ip_strings(item.get("ip") if isinstance(item, dict) else item))
        return out
    if isinstance(value, dict):
        return _ip_strings(value.get("ip"))
    return [part for part in str(value).replace(",", " ").split() if part]


def _parsed(values: list[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_address(value.split("/")[0]))
        except ValueError:
            continue
    return out


def addresses(instance: dict[str, Any]) -> dict[str, str | None]:
    """public_ipv4, public_ipv6 and private_ipv4 of an instance (None when it has none)."""
    public = _parsed(_ip_strings(instance.get("main_ip")) + _ip_strings(instance.get("ips")))
    v6 = _parsed(_ip_strings(instance.get("ip_v6"))) + [a for a in public if a.version == 6]
    private = _parsed(_ip_strings(instance.get("private_ip")))
    public_v4 = [a for a in public if a.version == 4 and not a.is_private] or [
        a for a in public if a.version == 4
    ]
    return {
        "public_ipv4": str(public_v4[0]) if public_v4 else None,
        "public_ipv6": str(v6[0]) if v6 else None,
        "private_ipv4": next((str(a) for a in private if a.version == 4), None),
    }


#: Private networks (RFC 1918): not billed as addresses. (ipaddress' is_private also covers the
#: benchmark range the testbed's public addresses come from.)
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def extra_ipv4(instance: Mapping[str, Any]) -> int:
    """How many public IPv4 addresses the instance holds beside its main one (each billed apart)."""
    private = set(_parsed(_ip_strings(instance.get("private_ip"))))
    held = _parsed(_ip_strings(instance.get("main_ip")) + _ip_strings(instance.get("ips")))
    public = {a for a in held if a.version == 4 and a not in private and not any(a in n for n in _RFC1918)}
    return max(0, len(public) - 1)


def find_plan(instance: dict[str, Any], plans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The price-list entry of an instance: by rid == product_id, else by name == product_name."""
    plan_id = instance.get(c.INSTANCE_PLAN_FIELD)
    if plan_id is not None:
        for plan in plans:
            if str(plan.get("rid")) == str(plan_id):
                return plan
    plan_name = instance.get(c.INSTANCE_PLAN_NAME_FIELD)
    if plan_name:
        for plan in plans:
            if plan.get("name") == plan_name:
                return plan
    return None


def plan_rid(plans: list[dict[str, Any]], plan: str) -> int:
    """The rid of a plan given as rid ("102") or exact name ("Unmetered SSD VPS 2 GB")."""
    for entry in plans:
        if str(entry.get("rid")) == str(plan).strip() or entry.get("name") == plan:
            return int(entry["rid"])
    known = ", ".join(f"{p.get('rid')} ({p.get('name')}, {p.get('monthly')}/month)" for p in plans)
    raise ValidationError(f"unknown Hostwinds plan {plan!r}; known plans: {known}")


def on_plan(instance: dict[str, Any], rid: int | str, plans: list[dict[str, Any]]) -> bool:
    plan = find_plan(instance, plans)
    return plan is not None and str(plan.get("rid")) == str(rid)


def mail_hostname_of(instance: dict[str, Any]) -> str | None:
    """The PTR of the main public IPv4 (provision.yml sets it to the mail host name), None if unset.
    Read from the instance's `ips` entries, so it costs no API call (unverified field: rdns)."""
    main = addresses(instance)["public_ipv4"]
    ips = instance.get("ips")
    entries = ips if isinstance(ips, list) else []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("ip") == main and entry.get(c.IP_RDNS_KEY):
            return str(entry[c.IP_RDNS_KEY]).strip().rstrip(".").lower() or None
    return None


def tenant_of(instance: dict[str, Any]) -> str | None:
    parsed = parse_srvrname(instance.get("srvrname"))
    return parsed.tenant if parsed else None


#: Instance fields an inventory exposes by default (the plugin's `attributes` option).
DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "serviceid", "srvrname", "hostname", "status", "vm_state", "power_state", "main_ip", "private_ip",
    "ip_v6", "ips", "location_id", "product_id", "product_name", "billingcycle", "ram", "cpu", "disk",
    "bandwidth", "bandwidth_used", "image", "created_at", "updated_at", "is_suspended", "locked",
)
#: Fields mailfleet derives; always present.
DERIVED_ATTRIBUTES: tuple[str, ...] = (
    "location", "region", "tenant", "plan",
    "plan_rid", "monthly_price", "public_ipv4", "public_ipv6", "private_ipv4",
    "mail_hostname",
)


def inventory_record(
    instance: dict[str, Any],
    plans: list[dict[str, Any]],
    location_names: dict[int, str],
    attributes: tuple[str, ...] | list[str] = DEFAULT_ATTRIBUTES,
) -> dict[str, Any]:
    """One instance as a JSON-safe dict: allowed fields plus location, tenant, plan and price.

    `monthly_price` stays the API's string (e.g. "9.99") so no float rounding sneaks into costs.
    """
    record = {k: instance[k] for k in attributes if k in instance}
    plan = find_plan(instance, plans)
    location = location_names.get(_location_id(instance))  # type: ignore[arg-type]
    record.update(addresses(instance))
    record.update(
        location=location,
        region=region_of(location, c.LOCATION_REGIONS),
        tenant=tenant_of(instance),
        mail_hostname=mail_hostname_of(instance),
        plan=plan.get("name") if plan else instance.get(c.INSTANCE_PLAN_NAME_FIELD),
        plan_rid=plan.get("rid") if plan else None,
        monthly_price=str(plan["monthly"]) if plan and plan.get("monthly") is not None else None,
    )
    return json.loads(json.dumps(record, default=str))


class _Locations(Protocol):
    def locations(self) -> list[dict[str, Any]]: ...


def instance_records(
    client: _Locations,
    instances: list[dict[str, Any]],
    plans: list[dict[str, Any]],
    attributes: tuple[str, ...] | list[str] | None = None,
) -> list[dict[str, Any]]:
    """Each instance's record (``inventory_record``; all its fields unless ``attributes`` names
    them). Locations are named from the known list; the client is asked only for an unknown one,
    and a failure there leaves that location unnamed (its id is still in the record)."""
    names = dict(c.KNOWN_LOCATIONS)
    if any(_location_id(i) not in names for i in instances):
        with contextlib.suppress(HostwindsError):
            names.update({int(loc["id"]): str(loc["name"]) for loc in client.locations()})
    return [inventory_record(i, plans, names, attributes or list(i)) for i in instances]


def _location_id(instance: dict[str, Any]) -> int | None:
    try:
        return int(str(instance.get("location_id")))
    except ValueError:
        return None
