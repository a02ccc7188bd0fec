"""The one Cloudflare client: a thin layer over the official ``cloudflare`` SDK (DNS part only).

It adds what every caller needs and the SDK does not do: finding the zone that holds a name,
listing every record at a name across pages, JSON-safe results, and errors that carry
Cloudflare's codes but never the token.
"""

from __future__ import annotations

from typing import Any

import cloudflare
import httpx

from mailfleet.dns.rdata import Record

from .errors import CloudflareAuthError, CloudflareError, CloudflareNotFound
from .records import record_from_api, record_payload

__all__ = ["DEFAULT_BASE_URL", "CloudflareClient", "CloudflareRecord"]

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"


class CloudflareRecord:
    """A record as Cloudflare stores it: its id, zone id and canonical Record."""

    __slots__ = ("id", "proxied", "record", "zone_id")

    def __init__(self, id: str, zone_id: str, record: Record, proxied: bool) -> None:  # noqa: A002
        self.id, self.zone_id, self.record, self.proxied = id, zone_id, record, proxied

    def __repr__(self) -> str:
        return f"CloudflareRecord({self.id!r}, {self.record!r})"


def _convert(exc: cloudflare.APIError, what: str) -> CloudflareError:
    status = getattr(exc, "status_code", None)
    body = exc.body if isinstance(exc.body, dict) else {}
    errors = body.get("errors") or []
    codes = tuple(int(e.get("code", 0)) for e in errors if isinstance(e, dict))
    detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    if isinstance(exc, cloudflare.APIConnectionError):
        detail = "connection failed or timed out"
    message = f"Cloudflare {what} failed" + (f" (HTTP {status})" if status else "")
    message += f": {detail}" if detail else ""
    if status in (401, 403) or any(c in (6003, 6111, 9109, 10000) for c in codes):
        return CloudflareAuthError(message, status=status, codes=codes)
    if status == 404:
        return CloudflareNotFound(message, status=status, codes=codes)
    return CloudflareError(message, status=status, codes=codes)


def _wrap(item: Any, zone_id: str) -> CloudflareRecord:
    data = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
    return CloudflareRecord(data["id"], zone_id, record_from_api(data), bool(data.get("proxied")))


class CloudflareClient:
    """DNS records through Cloudflare API v4. ``base_url`` points at a double in tests."""

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not api_token:
            raise CloudflareAuthError("no Cloudflare API token given")
        self._sdk = cloudflare.Cloudflare(
            api_token=api_token, base_url=base_url or DEFAULT_BASE_URL, timeout=timeout,
            max_retries=max_retries, http_client=http_client,
        )
        self._zones: dict[str, tuple[str, str]] = {}

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except cloudflare.APIError as exc:
            raise _convert(exc, what) from None

    def zone_for(self, name: str) -> tuple[str, str]:
        """(zone id, zone name) of the most specific zone in the account that holds ``name``."""
        labels = name.rstrip(".").lower().split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self._zones:
                return self._zones[candidate]
            page = self._call(f"zone lookup {candidate}", self._sdk.zones.list, name=candidate)
            zones = [z for z in page.result if z.name == candidate]
            if zones:
                self._zones[candidate] = (zones[0].id, zones[0].name)
                return self._zones[candidate]
        raise CloudflareNotFound(f"no Cloudflare zone in this account holds {name}")

    def records_at(self, name: str) -> list[CloudflareRecord]:
        """Every record at ``name`` (all types, all pages)."""
        zone_id, _ = self.zone_for(name)
        pages = self._call(
            f"list records {name}", self._sdk.dns.records.list,
            zone_id=zone_id, name={"exact": name.rstrip(".").lower()}, per_page=100,
        )
        try:
            out = [_wrap(item, zone_id) for item in pages]
        except cloudflare.APIError as exc:
            raise _convert(exc, f"list records {name}") from None
        return out

    def create(self, record: Record) -> CloudflareRecord:
        zone_id, _ = self.zone_for(record.name)
        item = self._call(
            f"create {record.name} {record.rtype}", self._sdk.dns.records.create,
            zone_id=zone_id, **record_payload(record),
        )
        return _wrap(item, zone_id)

    def update(self, existing: CloudflareRecord, record: Record) -> CloudflareRecord:
        """PATCH a record to ``record`` (same id; used for TTL changes and un-proxying)."""
        item = self._call(
            f"update {record.name} {record.rtype}", self._sdk.dns.records.edit,
            existing.id, zone_id=existing.zone_id, **record_payload(record),
        )
        return _wrap(item, existing.zone_id)

    def delete(self, existing: CloudflareRecord) -> None:
        self._call(
            f"delete {existing.record.name} {existing.record.rtype}", self._sdk.dns.records.delete,
            existing.id, zone_id=existing.zone_id,
        )

    def close(self) -> None:
        self._sdk.close()
