"""Apply an ownership plan through the Cloudflare API (per-record operations, never proxied).

Order, as for RFC 2136: manifest entries for new records first, then deletions (so a CNAME we
drop is gone before data takes its name), then creations and TTL/proxy fixes, then the manifest
entries of removed records go.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailfleet.cloudflare import CloudflareClient, CloudflareRecord

from .ownership import MANIFEST_TAG, Plan, plan_unit
from .rdata import Record

__all__ = ["CloudflareReader", "apply_plan", "sync_unit"]


class CloudflareReader:
    """ZoneReader over the Cloudflare API; one listing per name, cached for one plan."""

    def __init__(self, client: CloudflareClient) -> None:
        self.client = client
        self._by_name: dict[str, list[CloudflareRecord]] = {}

    def at(self, name: str) -> list[CloudflareRecord]:
        if name not in self._by_name:
            self._by_name[name] = self.client.records_at(name)
        return self._by_name[name]

    def rrset(self, name: str, rtype: str) -> list[Record]:
        return [r.record for r in self.at(name) if r.record.rtype == rtype]

    def cname_at(self, name: str) -> str | None:
        return next((r.record.value for r in self.at(name) if r.record.rtype == "CNAME"), None)

    def has_other_data(self, name: str) -> bool:
        return any(r.record.rtype != "CNAME" for r in self.at(name))

    def proxied(self, records: Iterable[Record]) -> list[Record]:
        """Those of ``records`` that exist but are proxied (mail records must never be)."""
        return [r for r in records if (c := self.find(r)) is not None and c.proxied]

    def find(self, record: Record) -> CloudflareRecord | None:
        return next((c for c in self.at(record.name) if c.record.key == record.key), None)


def apply_plan(client: CloudflareClient, reader: CloudflareReader, plan: Plan) -> list[str]:
    """Carry out ``plan``; return a line per change made."""
    done: list[str] = []
    manifest = {
        c.record.key: c for c in reader.at(plan.manifest)
        if c.record.rtype == "TXT" and c.record.value.startswith(MANIFEST_TAG + " ")
    }
    if plan.add or plan.remove or plan.retime:
        for entry in plan.manifest_pre:
            if entry.key not in manifest:
                manifest[entry.key] = client.create(entry)
                done.append(f"manifest + {entry.value}")
    for record in plan.remove:
        existing = reader.find(record)
        if existing is not None:
            client.delete(existing)
            done.append(f"- {record.name} {record.rtype} {record.value[:60]}")
    for record in plan.add:
        client.create(record)
        done.append(f"+ {record.name} {record.rtype} {record.value[:60]}")
    for record in plan.retime:
        existing = reader.find(record)
        if existing is not None:
            client.update(existing, record)
            done.append(f"~ {record.name} {record.rtype} ttl {record.ttl}, not proxied")
    wanted = {r.key for r in plan.manifest_after}
    for key, existing in list(manifest.items()):
        if key not in wanted:
            client.delete(existing)
            done.append(f"manifest - {existing.record.value}")
    for entry in plan.manifest_after:
        if entry.key not in manifest:
            client.create(entry)
            done.append(f"manifest + {entry.value}")
    return done


def sync_unit(client: CloudflareClient, manifest: str, wanted: Iterable[Record], *,
              check_mode: bool = False, take_over: bool = False) -> tuple[Plan, list[str]]:
    """Plan one unit against Cloudflare and apply it (unless ``check_mode``); ``take_over`` as for
    ``plan_unit``."""
    reader = CloudflareReader(client)
    wanted = list(wanted)
    plan = plan_unit(manifest, wanted, reader, take_over=take_over)
    # A proxied mail record is wrong even when its value is right: fix it in place.
    plan.retime.extend(r for r in reader.proxied(plan.owned) if r not in plan.retime and r not in plan.add)
    if check_mode:
        return plan, []
    return plan, apply_plan(client, reader, plan)
