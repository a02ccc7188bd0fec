"""A DOUBLE of the DigitalOcean API v2 (not the real service), for tests and the demo.

Serves the paths mailfleet uses as DigitalOcean answers them (the facts are in
`mailfleet.digitalocean.contract`): bearer tokens (401 `unauthorized` otherwise); JSON error bodies
`{"id", "message", "request_id"}`; `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset`
on every answer and 429 `too_many_requests` with `Retry-After` once the budget is spent; paged
lists (`page`, `per_page` at most 200, `links.pages`, `meta.total`); droplets go `new` -> `active`;
actions start `in-progress` and complete on a clock the tests control, and a droplet with an action
in progress is locked (422); resize needs the droplet off (422); duplicate names are accepted, as
DigitalOcean accepts them; DELETE answers 204 without a body.

Host backends are the Hostwinds double's (`testbed.doubles.hostwinds.HostBackend`): fake addresses
without the testbed; with `TestbedHosts`, a create boots a real testbed host (the droplet stays `new`
until it answers SSH), a delete stops it, and a rename to a host name publishes that name as the
PTR of its address in the testbed's reverse zone (DigitalOcean's PTR follows the droplet's name).
Power actions, resize and reboot change the droplet's fields only. Test-only administration is
under `/_double/` (faults: an HTTP 500 for a path and method; clock; rate budget; state).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from mailfleet.digitalocean import contract as c
from testbed.doubles.hostwinds import DOUBLE_HEADER, Clock, FakeAddresses, HostBackend, TestbedHosts

DEFAULT_TOKEN = "dop_v1_mailfleetdouble"  # noqa: S105 - the double's own test token
NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,253}[a-zA-Z0-9])?$")

REGIONS: tuple[tuple[str, str, bool], ...] = (
    ("nyc1", "New York 1", True), ("nyc3", "New York 3", True), ("sfo3", "San Francisco 3", True),
    ("ams3", "Amsterdam 3", True), ("fra1", "Frankfurt 1", True), ("lon1", "London 1", True),
    ("sgp1", "Singapore 1", True), ("blr1", "Bangalore 1", True), ("tor1", "Toronto 1", True),
    ("syd1", "Sydney 1", True), ("sfo1", "San Francisco 1", False),
)
SIZES: tuple[tuple[str, int, int, int, float, float], ...] = (
    # slug, memory MB, vcpus, disk GB, transfer TB, monthly price (a JSON number, as the API sends it)
    ("s-1vcpu-1gb", 1024, 1, 25, 1.0, 6.0),
    ("s-1vcpu-2gb", 2048, 1, 50, 2.0, 12.0),
    ("s-2vcpu-4gb", 4096, 2, 80, 4.0, 24.0),
    ("s-4vcpu-8gb", 8192, 4, 160, 5.0, 48.0),
)
IMAGES = ("debian-12-x64", "ubuntu-24-04-x64")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(slug: str) -> dict[str, Any]:
    for s, memory, vcpus, disk, transfer, price in SIZES:
        if s == slug:
            return {"slug": s, "memory": memory, "vcpus": vcpus, "disk": disk, "transfer": transfer,
                    "price_monthly": price, "price_hourly": round(price / 672, 5),
                    "regions": [r for r, _, up in REGIONS if up], "available": True,
                    "description": f"Basic {memory // 1024} GB"}
    raise KeyError(slug)


def _region(slug: str) -> dict[str, Any]:
    for s, name, available in REGIONS:
        if s == slug:
            return {"slug": s, "name": name, "available": available,
                    "sizes": [z[0] for z in SIZES] if available else [],
                    "features": ["backups", "ipv6", "metadata", "install_agent"]}
    raise KeyError(slug)


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_id, self.message = status, error_id, message


@dataclass
class DigitalOceanState:
    """Everything the double knows; tests may build one and pass it to create_app."""

    tokens: set[str] = field(default_factory=lambda: {DEFAULT_TOKEN})
    clock: Clock = field(default_factory=Clock)
    backend: HostBackend = field(default_factory=FakeAddresses)
    build_seconds: float = 30.0
    action_seconds: float = 5.0
    rate_limit: int = 5000
    rate_remaining: int = 5000
    droplets: dict[int, dict[str, Any]] = field(default_factory=dict)
    actions: dict[int, dict[str, Any]] = field(default_factory=dict)
    ssh_keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(3164444))
    _action_ids: Iterator[int] = field(default_factory=lambda: itertools.count(36804636))
    _key_ids: Iterator[int] = field(default_factory=lambda: itertools.count(512189))

    # -- time-driven states -----------------------------------------------------------------
    def refresh(self, droplet: dict[str, Any]) -> None:
        now = self.clock.now()
        label = droplet["_label"]
        if droplet["status"] == c.STATUS_NEW:
            address = self.backend.address(label)
            if address and now >= droplet["_ready_at"] and not self.backend.failed(label):
                droplet["status"] = c.STATUS_ACTIVE
                droplet["networks"]["v4"] = [
                    {"ip_address": address, "netmask": "255.255.255.0", "gateway": "", "type": "public"}]
                droplet["locked"] = False
        for action in self.actions.values():
            if action["resource_id"] == droplet["id"] and action["status"] == "in-progress" and (
                    now >= action["_done_at"]):
                action.update(status=c.ACTION_DONE, completed_at=_now())
                action["_apply"]()
        droplet["locked"] = droplet["status"] == c.STATUS_NEW or any(
            a["resource_id"] == droplet["id"] and a["status"] == "in-progress" for a in self.actions.values())

    def droplet(self, droplet_id: int) -> dict[str, Any]:
        found = self.droplets.get(droplet_id)
        if found is None:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
        self.refresh(found)
        return found

    # -- changes ----------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise ApiError(422, "unprocessable_entity",
                           "Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        region, size, image = body.get("region"), body.get("size"), body.get("image")
        if region not in {r for r, _, up in REGIONS if up}:
            raise ApiError(422, "unprocessable_entity",
                           "You specified an invalid region for Droplet creation.")
        if size not in {z[0] for z in SIZES}:
            raise ApiError(422, "unprocessable_entity", "You specified an invalid size for Droplet creation.")
        if image not in IMAGES:
            raise ApiError(422, "unprocessable_entity",
                           "You specified an invalid image for Droplet creation.")
        keys = body.get("ssh_keys") or []
        unknown = [k for k in keys if not isinstance(k, int) or k not in self.ssh_keys]
        if unknown:
            raise ApiError(422, "unprocessable_entity", "You specified invalid ssh key ids "
                           "for Droplet creation.")
        tags = [str(t) for t in body.get("tags") or []]
        label = next((t[len(c.LABEL_TAG_PREFIX):] for t in tags if t.startswith(c.LABEL_TAG_PREFIX)), name)
        droplet_id = next(self._ids)
        plan = _size(size)
        droplet = {
            "id": droplet_id, "name": name, "memory": plan["memory"], "vcpus": plan["vcpus"],
            "disk": plan["disk"], "locked": True, "status": c.STATUS_NEW, "created_at": _now(),
            "features": ["ipv6"] if body.get("ipv6") else [], "backup_ids": [], "snapshot_ids": [],
            "image": {"slug": image, "distribution": image.split("-")[0].title()}, "size": plan,
            "size_slug": size, "networks": {"v4": [], "v6": []}, "region": _region(region), "tags": tags,
            "volume_ids": [], "vpc_uuid": secrets.token_hex(16),
            "_label": label, "_ready_at": self.clock.now() + self.build_seconds,
        }
        self.droplets[droplet_id] = droplet
        self.backend.create(label, [self.ssh_keys[k]["public_key"] for k in keys])
        return droplet

    def delete(self, droplet_id: int) -> None:
        droplet = self.droplet(droplet_id)
        address = _public(droplet)
        if address and "." in droplet["name"]:  # only a host name was published as its PTR
            self.backend.set_ptr(address, None)
        self.backend.destroy(droplet["_label"])
        del self.droplets[droplet_id]

    def act(self, droplet_id: int, body: dict[str, Any]) -> dict[str, Any]:
        droplet = self.droplet(droplet_id)
        kind = body.get("type")
        apply = self._effects(droplet, kind, body)
        if droplet["locked"]:
            raise ApiError(422, "unprocessable_entity", "Droplet already has a pending event.")
        action = {
            "id": next(self._action_ids), "status": "in-progress", "type": kind, "started_at": _now(),
            "completed_at": None, "resource_id": droplet_id, "resource_type": "droplet",
            "region": droplet["region"], "region_slug": droplet["region"]["slug"],
            "_done_at": self.clock.now() + self.action_seconds, "_apply": apply,
        }
        self.actions[action["id"]] = action
        droplet["locked"] = True
        return action

    def _effects(self, droplet: dict[str, Any], kind: Any, body: dict[str, Any]) -> Any:
        def status(value: str) -> Any:
            return lambda: droplet.update(status=value)

        if kind in ("power_off", "shutdown"):
            return status(c.STATUS_OFF)
        if kind in ("power_on", "reboot", "power_cycle"):
            return status(c.STATUS_ACTIVE)
        if kind == "rename":
            name = body.get("name")
            if not isinstance(name, str) or not NAME.match(name):
                raise ApiError(422, "unprocessable_entity",
                               "Name Only valid hostname characters are allowed.")

            def rename() -> None:
                droplet["name"] = name
                if _public(droplet):
                    self.backend.set_ptr(_public(droplet), name if "." in name else None)
            return rename
        if kind == "resize":
            if body.get("size") not in {z[0] for z in SIZES}:
                raise ApiError(422, "unprocessable_entity", "You specified an invalid size.")
            if droplet["status"] != c.STATUS_OFF:
                raise ApiError(422, "unprocessable_entity", "Droplet must be powered off to resize.")
            plan = _size(body["size"])
            return lambda: droplet.update(size=plan, size_slug=plan["slug"], memory=plan["memory"],
                                          vcpus=plan["vcpus"], disk=plan["disk"])
        raise ApiError(422, "unprocessable_entity", f"{kind!r} is not a valid action type.")

    def add_key(self, body: dict[str, Any]) -> dict[str, Any]:
        public_key = str(body.get("public_key") or "").strip()
        if not public_key.startswith(("ssh-", "ecdsa-")) or not body.get("name"):
            raise ApiError(422, "unprocessable_entity", "Key invalid, key should be of the format `type key "
                           "[comment]`")
        if any(k["public_key"].split()[:2] == public_key.split()[:2] for k in self.ssh_keys.values()):
            raise ApiError(422, "unprocessable_entity", "SSH Key is already in use on your account")
        key = {"id": next(self._key_ids), "fingerprint": secrets.token_hex(16), "public_key": public_key,
               "name": str(body["name"])}
        self.ssh_keys[key["id"]] = key
        return key


def _public(droplet: dict[str, Any]) -> str | None:
    return next((n["ip_address"] for n in droplet["networks"]["v4"] if n["type"] == "public"), None)


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _paged(key: str, items: list[dict[str, Any]]) -> Response:
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(200, max(1, int(request.args.get("per_page", 20))))
    except ValueError:
        raise ApiError(400, "bad_request", "page and per_page must be whole numbers") from None
    last = max(1, -(-len(items) // per_page))
    base = request.base_url

    def link(number: int) -> str:
        return f"{base}?page={number}&per_page={per_page}"

    pages: dict[str, str] = {}
    if page > 1:
        pages.update(first=link(1), prev=link(page - 1))
    if page < last:
        pages.update(next=link(page + 1), last=link(last))
    chunk = items[(page - 1) * per_page: page * per_page]
    return _json({key: [public(i) for i in chunk], "links": {"pages": pages}, "meta": {"total": len(items)}})


def create_app(state: DigitalOceanState | None = None, *, state_dir: Path | None = None) -> Flask:
    """The double as a Flask app; started by the testbed (state_dir given, MAILFLEET_TESTBED_INSTANCE
    set) it boots real testbed hosts (MAILFLEET_DIGITALOCEAN_DOUBLE_BACKEND=fake|testbed overrides)."""
    if state is None:
        state = DigitalOceanState()
        backend = os.environ.get("MAILFLEET_DIGITALOCEAN_DOUBLE_BACKEND") or (
            "testbed" if state_dir is not None and os.environ.get("MAILFLEET_TESTBED_INSTANCE") else "fake")
        if backend == "testbed":
            state.backend = TestbedHosts(int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "1")))
            state.build_seconds = 0  # the host's own boot is the build
            state.action_seconds = 0
    app = Flask(__name__)
    app.config["DIGITALOCEAN_STATE"] = state

    @app.before_request
    def gate() -> Response | None:
        if request.path.startswith("/_double/"):
            return None
        with state.lock:
            rule = request.url_rule.rule if request.url_rule else request.path
            state.calls[f"{request.method} {rule}"] += 1
            fault = next((f for f in state.faults if f["path"] in (None, request.path)
                          and f["method"] in (None, request.method)), None)
            if fault is not None:
                state.faults.remove(fault)
                if fault["kind"] == "http_500":
                    return _error(500, "server_error", "Server was unable to give you a response.")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.tokens:
            return _error(401, "unauthorized", "Unable to authenticate you")
        with state.lock:
            if state.rate_remaining <= 0:
                response = _error(429, "too_many_requests", "API Rate limit exceeded.")
                response.headers["Retry-After"] = "1"
                return response
            state.rate_remaining -= 1
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers[DOUBLE_HEADER] = "digitalocean"
        if not request.path.startswith("/_double/"):
            response.headers["ratelimit-limit"] = str(state.rate_limit)
            response.headers["ratelimit-remaining"] = str(max(0, state.rate_remaining))
            response.headers["ratelimit-reset"] = str(int(datetime.now(UTC).timestamp()) + 3600)
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.error_id, exc.message)

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Response:
        return _error(404, "not_found", "The resource you were accessing could not be found.")

    @app.get("/v2/droplets")
    def list_droplets() -> Response:
        tag = request.args.get("tag_name")
        with state.lock:
            items = [state.droplet(i) for i in sorted(state.droplets)]
        return _paged("droplets", [d for d in items if tag is None or tag in d["tags"]])

    @app.post("/v2/droplets")
    def create_droplet() -> Response:
        with state.lock:
            droplet = state.create(_body())
        return _json({"droplet": public(droplet), "links": {"actions": []}}, 202)

    @app.get("/v2/droplets/<int:droplet_id>")
    def get_droplet(droplet_id: int) -> Response:
        with state.lock:
            return _json({"droplet": public(state.droplet(droplet_id))})

    @app.delete("/v2/droplets/<int:droplet_id>")
    def delete_droplet(droplet_id: int) -> Response:
        with state.lock:
            state.delete(droplet_id)
        return Response(status=204)

    @app.post("/v2/droplets/<int:droplet_id>/actions")
    def droplet_action(droplet_id: int) -> Response:
        with state.lock:
            action = state.act(droplet_id, _body())
        return _json({"action": public(action)}, 201)

    @app.get("/v2/actions/<int:action_id>")
    def get_action(action_id: int) -> Response:
        with state.lock:
            action = state.actions.get(action_id)
            if action is None:
                raise ApiError(404, "not_found", "The resource you were accessing could not be found.")
            if action["resource_id"] in state.droplets:
                state.refresh(state.droplets[action["resource_id"]])
            return _json({"action": public(action)})

    @app.get("/v2/regions")
    def regions() -> Response:
        return _paged("regions", [_region(r) for r, _, _ in REGIONS])

    @app.get("/v2/sizes")
    def sizes() -> Response:
        return _paged("sizes", [_size(s[0]) for s in SIZES])

    @app.get("/v2/account/keys")
    def list_keys() -> Response:
        with state.lock:
            return _paged("ssh_keys", list(state.ssh_keys.values()))

    @app.post("/v2/account/keys")
    def add_key() -> Response:
        with state.lock:
            return _json({"ssh_key": state.add_key(_body())}, 201)

    # --- test-only administration (not part of the DigitalOcean API) --------------------------
    @app.post("/_double/faults")
    def add_fault() -> Response:
        data = request.get_json(force=True)
        with state.lock:
            state.faults.append({"kind": data.get("kind", "http_500"), "path": data.get("path"),
                                 "method": data.get("method")})
        return _json({"faults": len(state.faults)})

    @app.post("/_double/clock")
    def advance_clock() -> Response:
        state.clock.advance(float(request.get_json(force=True).get("advance", 0)))
        return _json({"now": state.clock.now()})

    @app.post("/_double/rate")
    def set_rate() -> Response:
        with state.lock:
            state.rate_remaining = int(request.get_json(force=True).get("remaining", state.rate_limit))
        return _json({"remaining": state.rate_remaining})

    @app.get("/_double/state")
    def show_state() -> Response:
        with state.lock:
            return _json({"droplets": len(state.droplets), "calls": dict(state.calls)})

    return app


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "The request body must be a JSON object.")
    return data


def _error(status: int, error_id: str, message: str) -> Response:
    return _json({"id": error_id, "message": message, "request_id": secrets.token_hex(8)}, status)
