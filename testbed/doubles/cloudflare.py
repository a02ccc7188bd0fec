"""DOUBLE of the Cloudflare API v4 (DNS records part) for tests and the demo. Not Cloudflare.

Follows the published API for what mailfleet uses: Bearer-token auth, ``GET /zones?name=``,
``/zones/{zone_id}/dns_records`` list (filters ``type``, ``name`` / ``name.exact``, ``content`` /
``content.exact``, ``match``; pagination ``page``/``per_page`` with ``result_info``), create, get,
PATCH, PUT and DELETE, and the envelope ``{"success", "errors", "messages", "result"}``.
Rules enforced as Cloudflare does: only A/AAAA/CNAME can be proxied; an identical record is
81058; a CNAME beside other records at the same name is 81053/81054; TTL is 1 (automatic) or
60..86400; record names must lie inside the zone. Error codes the real API documents loosely are
picked from what it is observed to return (missing auth 400/6003, bad token 403/10000, unknown
record 404/81044, unknown zone 404/7003). Every response carries ``X-Mailfleet-Double: cloudflare``.

State lives in memory in one :class:`CloudflareState`; ``create_app(state)`` serves it. Run as a
process (``testbed.doubles.serve cloudflare --state-dir DIR``) it reads the accepted token from
``DIR/token`` (made at random, mode 0600, if missing) and the zones from ``DIR/zones`` (one per
line; default ``example.test``), and keeps records in ``DIR/records.json`` across restarts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = ["CloudflareState", "create_app"]

PROXIABLE = {"A", "AAAA", "CNAME"}
TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "TLSA", "CAA", "NS", "PTR"}
DATA_FIELDS = {
    "SRV": ("priority", "weight", "port", "target"),
    "TLSA": ("usage", "selector", "matching_type", "certificate"),
    "CAA": ("flags", "tag", "value"),
}


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class CloudflareState:
    """Zones, records and accepted API tokens. ``add_zone`` returns the new zone's id."""

    tokens: set[str] = field(default_factory=set)
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    path: Path | None = None

    def add_zone(self, name: str) -> str:
        zone_id = secrets.token_hex(16)
        self.zones[zone_id] = {
            "id": zone_id, "name": name.lower().rstrip("."), "status": "active", "paused": False,
            "type": "full", "name_servers": ["ada.ns.double.invalid", "bob.ns.double.invalid"],
            "created_on": _now(), "modified_on": _now(),
        }
        self.records[zone_id] = {}
        return zone_id

    @classmethod
    def load(cls, state_dir: Path) -> CloudflareState:
        """State of a double served as a process (see the module docstring)."""
        token_file = state_dir / "token"
        if not token_file.exists():
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(30))
        zones_file = state_dir / "zones"
        names = zones_file.read_text().split() if zones_file.exists() else ["example.test"]
        state = cls(tokens={token_file.read_text().strip()}, path=state_dir / "records.json")
        saved = json.loads(state.path.read_text()) if state.path and state.path.exists() else {}
        for zone in saved.get("zones", []):
            state.zones[zone["id"]] = zone
            state.records[zone["id"]] = saved["records"].get(zone["id"], {})
        for name in names:
            if state.zone_by_name(name) is None:
                state.add_zone(name)
        return state

    def save(self) -> None:
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"zones": list(self.zones.values()), "records": self.records}))
            tmp.replace(self.path)

    def zone_by_name(self, name: str) -> dict[str, Any] | None:
        return next((z for z in self.zones.values() if z["name"] == name.lower().rstrip(".")), None)


def _int(value: Any, what: str, code: int = 9020) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ApiError(400, code, f"{what} must be an integer")
    return int(value)


def _validate(zone: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Return the stored form of a record body, or raise ApiError like the API does."""
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid.")
    rtype = str(body.get("type", "")).upper()
    if rtype not in TYPES:
        raise ApiError(400, 9000, "DNS record type is invalid.")
    name = str(body.get("name", "")).lower().rstrip(".")
    if name == "@":
        name = zone["name"]
    if not name:
        raise ApiError(400, 9007, "DNS name is invalid.")
    if name != zone["name"] and not name.endswith("." + zone["name"]):
        name = f"{name}.{zone['name']}"
    ttl = _int(body.get("ttl", 1), "ttl")
    if ttl != 1 and not 60 <= ttl <= 86400:
        raise ApiError(400, 9020, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
    proxied = bool(body.get("proxied", False))
    if proxied and rtype not in PROXIABLE:
        raise ApiError(400, 9004, f"This record type cannot be proxied. ({rtype})")
    record: dict[str, Any] = {
        "name": name, "type": rtype, "ttl": ttl, "proxied": proxied, "proxiable": rtype in PROXIABLE,
        "comment": body.get("comment"), "tags": list(body.get("tags") or []), "settings": {}, "meta": {},
    }
    if rtype in DATA_FIELDS:
        data = body.get("data")
        if not isinstance(data, dict) or any(data.get(k) in (None, "") for k in DATA_FIELDS[rtype]):
            raise ApiError(400, 9101, f"{rtype} record requires data with {', '.join(DATA_FIELDS[rtype])}.")
        data = {k: data[k] for k in DATA_FIELDS[rtype]}
        if rtype == "SRV":
            for k in ("priority", "weight", "port"):
                data[k] = _int(data[k], f"data.{k}", 9101)
            data["target"] = str(data["target"]).lower().rstrip(".")
            record["priority"] = data["priority"]
            record["content"] = f"{data['weight']} {data['port']} {data['target']}"
        elif rtype == "TLSA":
            for k in ("usage", "selector", "matching_type"):
                data[k] = _int(data[k], f"data.{k}", 9101)
            fields = ("usage", "selector", "matching_type", "certificate")
            record["content"] = " ".join(str(data[k]) for k in fields)
        else:
            record["content"] = f"{data['flags']} {data['tag']} \"{data['value']}\""
        record["data"] = data
        return record
    content = body.get("content")
    if not isinstance(content, str) or not content:
        raise ApiError(400, 9005, f"Content for {rtype} record is invalid.")
    if rtype in ("A", "AAAA"):
        try:
            address = ipaddress.ip_address(content)
        except ValueError:
            address = None
        if address is None or address.version != (4 if rtype == "A" else 6):
            version = 4 if rtype == "A" else 6
            raise ApiError(400, 9005, f"Content for {rtype} record must be a valid IPv{version} address.")
        content = str(address)
    if rtype in ("CNAME", "MX", "NS", "PTR"):
        content = content.lower().rstrip(".")
    if rtype == "MX":
        record["priority"] = _int(body.get("priority", 0), "priority", 9100)
    if rtype == "TXT" and len(content) > 4096:
        raise ApiError(400, 9009, "Content for TXT record is too long.")
    record["content"] = content
    return record


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("name", "type", "content", "priority")
    return all(a.get(k) == b.get(k) for k in keys)


def _check_conflicts(records: dict[str, dict[str, Any]], new: dict[str, Any], skip: str | None = None
                     ) -> None:
    others = [r for rid, r in records.items() if rid != skip and r["name"] == new["name"]]
    if any(_same(r, new) for r in others):
        raise ApiError(400, 81058, "An identical record already exists.")
    if new["type"] == "CNAME" and others:
        if any(r["type"] == "CNAME" for r in others):
            raise ApiError(400, 81057, "Record already exists.")
        raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
    if new["type"] != "CNAME" and any(r["type"] == "CNAME" for r in others):
        raise ApiError(400, 81054, "A CNAME record with that host already exists.")


def _page_args(default_per_page: int, max_per_page: int) -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        raise ApiError(400, 1004, "page and per_page must be integers") from None
    if page < 1 or not 1 <= per_page <= max_per_page:
        raise ApiError(400, 1004, f"page must be >= 1 and per_page 1..{max_per_page}")
    return page, per_page


def _paged(items: list[dict[str, Any]], default_per_page: int, max_per_page: int) -> Any:
    page, per_page = _page_args(default_per_page, max_per_page)
    chunk = items[(page - 1) * per_page : page * per_page]
    total_pages = (len(items) + per_page - 1) // per_page
    return _envelope(chunk, result_info={
        "page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
        "total_pages": total_pages,
    })


def _envelope(result: Any, status: int = 200, **extra: Any) -> Any:
    response = jsonify({"success": True, "errors": [], "messages": [], "result": result, **extra})
    response.status_code = status
    return response


def create_app(state: CloudflareState | None = None, *, state_dir: Path | None = None) -> Flask:
    """The double as a Flask app over ``state`` (or the state kept in ``state_dir``; else empty)."""
    app = Flask("cloudflare_double")
    if state is None:
        state = CloudflareState.load(Path(state_dir)) if state_dir is not None else CloudflareState()
    app.config["STATE"] = cf = state

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Any:
        response = jsonify({"success": False, "errors": [{"code": exc.code, "message": exc.message}],
                            "messages": [], "result": None})
        response.status_code = exc.status
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = 7000 if exc.code == 404 else 7001 if exc.code == 405 else 1000
        message = "No route for that URI" if code == 7000 else exc.name
        return api_error(ApiError(exc.code or 500, code, message))

    @app.after_request
    def label(response: Any) -> Any:
        response.headers["X-Mailfleet-Double"] = "cloudflare"
        return response

    @app.before_request
    def authenticate() -> None:
        cf.requests.append((request.method, request.full_path))
        header = request.headers.get("Authorization", "")
        if not header:
            raise ApiError(400, 6003, "Invalid request headers")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise ApiError(400, 6111, "Invalid format for Authorization header")
        if not any(secrets.compare_digest(token, t) for t in cf.tokens):
            raise ApiError(403, 10000, "Authentication error")

    def zone_or_404(zone_id: str) -> dict[str, Any]:
        zone = cf.zones.get(zone_id)
        if zone is None:
            raise ApiError(404, 7003, f"Could not route to /zones/{zone_id}, "
                                      "perhaps your object identifier is invalid?")
        return zone

    def record_or_404(zone_id: str, record_id: str) -> dict[str, Any]:
        record = cf.records[zone_id].get(record_id)
        if record is None:
            raise ApiError(404, 81044, "Record does not exist.")
        return record

    @app.get("/client/v4/zones")
    def list_zones() -> Any:
        name = request.args.get("name")
        zones = [z for z in cf.zones.values() if name is None or z["name"] == name.lower().rstrip(".")]
        return _paged(sorted(zones, key=lambda z: z["name"]), 20, 50)

    @app.get("/client/v4/zones/<zone_id>/dns_records")
    def list_records(zone_id: str) -> Any:
        zone_or_404(zone_id)
        filters = []
        rtype = request.args.get("type")
        if rtype:
            filters.append(lambda r: r["type"] == rtype.upper())
        name = request.args.get("name.exact", request.args.get("name"))
        if name:
            filters.append(lambda r: r["name"] == name.lower().rstrip("."))
        content = request.args.get("content.exact", request.args.get("content"))
        if content:
            filters.append(lambda r: r["content"] == content)
        match = request.args.get("match", "all")
        if match not in ("all", "any"):
            raise ApiError(400, 1004, "match must be all or any")
        combine = all if match == "all" else any
        with cf.lock:
            items = [dict(r) for r in cf.records[zone_id].values()
                     if not filters or combine(f(r) for f in filters)]
        return _paged(items, 100, 5000000)

    @app.post("/client/v4/zones/<zone_id>/dns_records")
    def create_record(zone_id: str) -> Any:
        zone = zone_or_404(zone_id)
        record = _validate(zone, request.get_json(silent=True))
        with cf.lock:
            _check_conflicts(cf.records[zone_id], record)
            record.update(id=secrets.token_hex(16), zone_id=zone_id, zone_name=zone["name"],
                          created_on=_now(), modified_on=_now())
            cf.records[zone_id][record["id"]] = record
            cf.save()
        return _envelope(dict(record))

    @app.get("/client/v4/zones/<zone_id>/dns_records/<record_id>")
    def get_record(zone_id: str, record_id: str) -> Any:
        zone_or_404(zone_id)
        return _envelope(dict(record_or_404(zone_id, record_id)))

    @app.route("/client/v4/zones/<zone_id>/dns_records/<record_id>", methods=["PATCH", "PUT"])
    def update_record(zone_id: str, record_id: str) -> Any:
        zone = zone_or_404(zone_id)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, 9207, "Request body is invalid.")
        with cf.lock:
            old = record_or_404(zone_id, record_id)
            if request.method == "PATCH":
                merged = {k: old[k] for k in ("name", "type", "ttl", "proxied", "comment", "tags")}
                merged.update({k: old[k] for k in ("content", "priority", "data") if k in old})
                merged.update(body)
                body = merged
            record = _validate(zone, body)
            _check_conflicts(cf.records[zone_id], record, skip=record_id)
            record.update(id=record_id, zone_id=zone_id, zone_name=zone["name"],
                          created_on=old["created_on"], modified_on=_now())
            cf.records[zone_id][record_id] = record
            cf.save()
        return _envelope(dict(record))

    @app.delete("/client/v4/zones/<zone_id>/dns_records/<record_id>")
    def delete_record(zone_id: str, record_id: str) -> Any:
        zone_or_404(zone_id)
        with cf.lock:
            record_or_404(zone_id, record_id)
            del cf.records[zone_id][record_id]
            cf.save()
        return _envelope({"id": record_id})

    return app
