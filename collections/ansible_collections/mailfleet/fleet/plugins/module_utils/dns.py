"""The dns_* modules' record lists: dicts in the task, mailfleet.dns Records inside."""

from __future__ import annotations

from typing import Any

from mailfleet.dns import Record


def records(items: list[dict[str, Any]]) -> list[Record]:
    """Records from the modules' dicts (name, type, value, ttl; ttl 600 when left out)."""
    return [Record.make(i["name"], i["type"], i["value"], int(i.get("ttl", 600))) for i in items]


def as_dicts(items: list[Record]) -> list[dict[str, Any]]:
    return [{"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl} for r in items]
