"""A DOUBLE of the Hostwinds Cloud API (not the real service), for tests and the demo.

Serves `POST /cloud/api.php` as the Hostwinds API answers it, with the names,
messages and shapes taken from `mailfleet.hostwinds.contract` (one place for every assumption):

- form bodies only (a JSON body gets the authorization error); keys bound to IPv4 allow-lists,
  checked against the caller's address (an IPv6 caller is never authorized);
- envelopes: `{"success": ...}` reads, `[{"result": "success", ...}]` mutations, error entries;
- in-memory state; instances go BUILD -> ACTIVE on a clock the tests control; `password` and
  `configkey` are present in responses, so the client's redaction is really exercised;
- fault injection through the test-only admin endpoints under `/_double/` (never part of the API).

Host backends: without the testbed, addresses are fakes from 198.19.0.0/16 (inside the 198.18.0.0/15
benchmark range, clear of the testbed's 198.18.N.0/24 networks) and nothing answers there. With
`TestbedHosts`, add_instance boots a real testbed host (BUILD until it answers SSH) and reports its
address; terminate stops it; change_main_ip adds a second address on the host and reports it;
set_rdns publishes the PTR in the testbed's reverse zone (Hostwinds answers PTR for its addresses),
and terminate withdraws it. Simulated in every backend: power state (boot/shutdown/reboot only
change `status`), reinstall and resize (plan fields change, the host does not); without the
testbed, reverse DNS is stored only.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import secrets
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request

from mailfleet.hostwinds import contract as c

DOUBLE_HEADER = "X-Mailfleet-Double"
DEFAULT_KEY = "mailfleet-double-key"
DEFAULT_ALLOW = ("127.0.0.0/8",)
FAKE_NETWORK = ipaddress.IPv4Network("198.19.0.0/16")

Json = Any


# --- clock ---------------------------------------------------------------------------------------
class Clock:
    """Monotonic seconds plus an offset tests can push forward (`advance`)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, float(seconds))


class ManualClock(Clock):
    """A clock that only moves when told to (unit tests: pass `clock.advance` as the client's sleep)."""

    def __init__(self) -> None:
        super().__init__(now=lambda: 0.0)


# --- host backends -------------------------------------------------------------------------------
class HostBackend(Protocol):
    def create(self, srvrname: str, authorized_keys: list[str]) -> None: ...
    def address(self, srvrname: str) -> str | None: ...  # None while the host is not up yet
    def failed(self, srvrname: str) -> str | None: ...  # an error text once creation failed
    def extra_address(self, srvrname: str) -> str: ...  # a further address for change_main_ip
    def destroy(self, srvrname: str) -> None: ...
    def set_ptr(self, address: str, name: str | None) -> None: ...  # reverse DNS (None: none)


class FakeAddresses:
    """No hosts: each instance gets the next fake address in 198.19.0.0/16 at once."""

    def __init__(self) -> None:
        self._next = itertools.count(10)
        self._addresses: dict[str, str] = {}
        self._lock = threading.Lock()

    def _allocate(self) -> str:
        with self._lock:
            return str(FAKE_NETWORK[next(self._next)])

    def create(self, srvrname: str, authorized_keys: list[str]) -> None:
        self._addresses[srvrname] = self._allocate()

    def address(self, srvrname: str) -> str | None:
        return self._addresses.get(srvrname)

    def failed(self, srvrname: str) -> str | None:
        return None

    def extra_address(self, srvrname: str) -> str:
        return self._allocate()

    def destroy(self, srvrname: str) -> None:
        self._addresses.pop(srvrname, None)

    def set_ptr(self, address: str, name: str | None) -> None:
        pass  # nothing answers DNS for the fake addresses


class TestbedHosts:
    """Real Debian hosts from the testbed: `Testbed(instance).start_hosts([srvrname], ...)` in a thread."""

    __test__ = False  # not a pytest test class
    EXTRA_FIRST, EXTRA_LAST = 210, 254  # testbed hosts use .10-.209 of 198.18.N.0/24

    def __init__(self, instance: int) -> None:
        from testbed import Testbed  # noqa: PLC0415 - only this backend needs the testbed

        self._testbed = Testbed(instance)
        self._addresses: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._extra = itertools.count(self.EXTRA_FIRST)
        self._lock = threading.Lock()

    def create(self, srvrname: str, authorized_keys: list[str]) -> None:
        def boot() -> None:
            try:
                (host,) = self._testbed.start_hosts([srvrname], authorized_keys=authorized_keys)
            except Exception as exc:  # reported as the instance's ERROR status, and in the double's log
                traceback.print_exc(file=sys.stderr)
                with self._lock:
                    self._errors[srvrname] = str(exc)[-500:]
                return
            with self._lock:
                self._addresses[srvrname] = host.address

        threading.Thread(target=boot, name=f"hostwinds-double-{srvrname}", daemon=True).start()

    def address(self, srvrname: str) -> str | None:
        with self._lock:
            return self._addresses.get(srvrname)

    def failed(self, srvrname: str) -> str | None:
        with self._lock:
            return self._errors.get(srvrname)

    def extra_address(self, srvrname: str) -> str:
        last = next(self._extra)
        if last > self.EXTRA_LAST:
            raise RuntimeError("the double ran out of extra testbed addresses")
        address = str(self._testbed.layout.network[last])
        self._testbed.host(srvrname).ssh(f"ip addr add {address}/24 dev host0")
        return address

    def destroy(self, srvrname: str) -> None:
        with self._lock:
            self._addresses.pop(srvrname, None)
        self._testbed.stop_host(srvrname)

    def set_ptr(self, address: str, name: str | None) -> None:
        self._testbed.set_ptr(address, name)


# --- seed data -----------------------------------------------------------------------------------
PLANS: tuple[tuple[int, str, int, int, int, int, str], ...] = (
    # rid, name, ram MB, cpu, disk GB, bandwidth GB, monthly price
    (101, "Unmetered SSD VPS 1 GB", 1024, 1, 30, 1000, "4.99"),
    (102, "Unmetered SSD VPS 2 GB", 2048, 1, 50, 2000, "9.99"),
    (103, "Unmetered SSD VPS 4 GB", 4096, 2, 75, 3000, "18.99"),
    (104, "Unmetered SSD VPS 6 GB", 6144, 3, 100, 4000, "28.99"),
    (105, "Unmetered SSD VPS 8 GB", 8192, 4, 150, 5000, "38.99"),
)
LOCATIONS = tuple({c.LOCATION_ID_FIELD: i, c.LOCATION_NAME_FIELD: n} for i, n in c.KNOWN_LOCATIONS.items())
IMAGES = ({"id": "debian-12", "name": "Debian 12"}, {"id": "ubuntu-24.04", "name": "Ubuntu 24.04"})
_MONTHS = dict(zip(c.PRICE_FIELDS, (1, 3, 6, 12, 24, 36), strict=True))


def price_list() -> list[dict[str, Any]]:
    plans = []
    for rid, name, ram, cpu, disk, bandwidth, monthly in PLANS:
        prices = {period: f"{float(monthly) * months:.2f}" for period, months in _MONTHS.items()}
        plans.append({"rid": rid, "name": name, "ram": ram, "cpu": cpu, "disk": disk,
                      "bandwidth": bandwidth, **prices})
    return plans


# --- state ---------------------------------------------------------------------------------------
@dataclass
class Fault:
    """One injected fault. kind: html | timeout | slow | not_authorized | http_500 | lost_after |
    cooldown. `action` limits it to one action; `count` answers it affects (None: until cleared)."""

    kind: str
    action: str | None = None
    count: int | None = 1
    delay: float = 0.0

    KINDS = frozenset({"html", "timeout", "slow", "not_authorized", "http_500", "lost_after", "cooldown"})


@dataclass
class HostwindsState:
    """Everything the double knows. Tests may build one, seed it, and pass it to create_app."""

    keys: dict[str, tuple[str, ...]] = field(default_factory=lambda: {DEFAULT_KEY: DEFAULT_ALLOW})
    clock: Clock = field(default_factory=Clock)
    backend: HostBackend = field(default_factory=FakeAddresses)
    build_seconds: float = 30.0
    resize_seconds: float = 10.0
    ip_change_seconds: float = 60.0
    # While set, builds stay in BUILD (a test holds a provisioning run in progress, then lets it go).
    hold_builds: bool = False
    default_authorized_keys: list[str] = field(default_factory=list)
    # What get_locations lists: a test drops one to play a data centre that sells nothing now.
    locations: list[dict[str, Any]] = field(default_factory=lambda: [dict(loc) for loc in LOCATIONS])
    instances: dict[int, dict[str, Any]] = field(default_factory=dict)
    ssh_keys: dict[int, dict[str, str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(40001))
    _seeded: Iterator[int] = field(default_factory=itertools.count)

    def next_id(self) -> int:
        return next(self._ids)

    # -- faults ---------------------------------------------------------------------------------
    def take_fault(self, action: str, kinds: Iterable[str] | None = None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.action not in (None, action) or (kinds is not None and fault.kind not in kinds):
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    # -- instances ------------------------------------------------------------------------------
    def seed(self, count: int, *, tenants: int = 50, status: str = c.InstanceStatus.ACTIVE) -> None:
        """Add `count` ready instances named mf-tenantNNN-<n> spread over plans and locations."""
        start = len(self.instances)
        for i in range(start, start + count):
            tenant = f"tenant{i % tenants:03d}"
            name = f"mf-{tenant}-{i // tenants + 1}"
            location_id = list(c.KNOWN_LOCATIONS)[i % len(c.KNOWN_LOCATIONS)]
            record = self._new_instance(name, PLANS[i % len(PLANS)][0], location_id, "debian-12")
            # Seeded instances never have hosts: fake addresses from the upper half of 198.19.0.0/16.
            address = str(FAKE_NETWORK[32769 + next(self._seeded)])
            record.update(status=str(status), vm_state="active", task_state=None, power_state=1,
                          ready_at=None, main_ip=address, ips=[{"ip": address, c.IP_RDNS_KEY: None}])

    def _new_instance(self, srvrname: str, rid: int, location_id: int, template: str) -> dict[str, Any]:
        plan = plan_by_rid(rid)
        sid = self.next_id()
        now = _timestamp()
        record = {
            "serviceid": sid, "srvrname": srvrname, "hostname": f"hwsrv-{sid}.hostwindsdns.com",
            "name": f"hwsrv-{sid}", "status": c.InstanceStatus.BUILD.value, "vm_state": "building",
            "task_state": "spawning", "power_state": 0, "main_ip": None, "private_ip": None, "ips": [],
            "ip_v6": None, "location_id": location_id, "product_id": rid, "product_name": plan["name"],
            "billingcycle": "Monthly",
            "flavor": _flavor(plan),
            "ram": plan["ram"], "cpu": plan["cpu"], "disk": plan["disk"], "bandwidth": plan["bandwidth"],
            "bandwidth_used": None, "image": {"id": template, "name": _image_name(template)},
            "created_at": now, "updated_at": now, "is_suspended": False, "locked": False, "ssh_keys": [],
            # Secrets, present as the real API sends them, so redaction is exercised.
            "password": secrets.token_urlsafe(12), "configkey": secrets.token_hex(16),
            # Double-only bookkeeping (never sent: see public()).
            "ready_at": self.clock.now() + self.build_seconds, "pending_ip": None, "upgrade": None,
        }
        self.instances[sid] = record
        return record

    def refresh(self, record: dict[str, Any]) -> None:
        """Move time-driven states forward (BUILD/REBUILD/RESIZE -> ..., pending IP changes)."""
        now = self.clock.now()
        name = record["srvrname"]
        if record["status"] == c.InstanceStatus.BUILD and not self.hold_builds:
            error = self.backend.failed(name)
            address = self.backend.address(name)
            if error:
                record.update(status=c.InstanceStatus.ERROR.value, vm_state="error", task_state=None)
            elif address and record["ready_at"] is not None and now >= record["ready_at"]:
                record.update(status=c.InstanceStatus.ACTIVE.value, vm_state="active", task_state=None,
                              power_state=1, ready_at=None, main_ip=address,
                              ips=[{"ip": address, c.IP_RDNS_KEY: None}], updated_at=_timestamp())
        elif record["status"] in ("REBUILD", "RESIZE") and now >= (record["ready_at"] or 0):
            after = c.InstanceStatus.ACTIVE if record["status"] == "REBUILD" else c.InstanceStatus.RESIZED
            record.update(status=after.value, vm_state="active", task_state=None, ready_at=None,
                          updated_at=_timestamp())
        pending = record.get("pending_ip")
        if pending and now >= pending["at"]:
            record["main_ip"] = pending["ip"]
            record["ips"] = [{"ip": pending["ip"], c.IP_RDNS_KEY: None}] + record["ips"]
            record["pending_ip"] = None


def plan_by_rid(rid: int | str) -> dict[str, Any]:
    for plan in price_list():
        if str(plan["rid"]) == str(rid):
            return plan
    raise KeyError(rid)


def _image_name(template: str) -> str:
    return next((i["name"] for i in IMAGES if i["id"] == template), template)


def _timestamp() -> str:
    return datetime.now(UTC).strftime(c.TIMESTAMP_FORMAT)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The instance as the API shows it (secrets included; double bookkeeping removed)."""
    return {k: v for k, v in record.items() if k not in ("ready_at", "pending_ip", "upgrade")}


# --- envelopes -----------------------------------------------------------------------------------
def ok(data: Json) -> Json:
    return {c.SUCCESS_KEY: data}


def done(action: str, message: str) -> Json:
    return [{c.RESULT_KEY: c.RESULT_OK, "action": action.replace("_", " ").title(), "message": message}]


class ApiFailure(Exception):
    def __init__(self, body: Json) -> None:
        super().__init__("api failure")
        self.body = body


def fail(action: str, message: str, code: str | None = None) -> ApiFailure:
    entry: dict[str, Any] = {c.RESULT_KEY: c.RESULT_ERROR, "action": action.replace("_", " ").title(),
                             "message": message}
    if code:
        entry[c.ERROR_CODE_KEY] = code
    return ApiFailure([entry])


NOT_AUTHORIZED = {c.RESULT_KEY: c.RESULT_ERROR, "action": c.ACTION_AUTHORIZATION,
                  "message": c.MSG_NOT_AUTHORIZED}


# --- actions -------------------------------------------------------------------------------------
Handler = Callable[[HostwindsState, dict[str, Any]], Json]
ACTIONS: dict[str, Handler] = {}


def action(name: c.Action) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ACTIONS[str(name)] = handler
        return handler

    return register


def _instance(state: HostwindsState, form: dict[str, Any], action_name: str) -> dict[str, Any]:
    try:
        record = state.instances[int(form.get(c.PARAM_SERVICEID, ""))]
    except (KeyError, ValueError):
        raise fail(action_name, c.MSG_INVALID_SERVICEID, "1201") from None
    state.refresh(record)
    return record


@action(c.Action.GET_INSTANCES)
def _get_instances(state: HostwindsState, form: dict[str, Any]) -> Json:
    for record in state.instances.values():
        state.refresh(record)
    return ok([public(r) for r in state.instances.values()])


@action(c.Action.GET_INSTANCE)
def _get_instance(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok(public(_instance(state, form, c.Action.GET_INSTANCE)))


@action(c.Action.GET_INSTANCE_IDS)
def _get_instance_ids(state: HostwindsState, form: dict[str, Any]) -> Json:
    search = str(form.get("search", "")).lower()
    rows = [r for r in state.instances.values()
            if search in r["srvrname"].lower()
            and str(form.get("location_id", r["location_id"])) == str(r["location_id"])]
    limit = int(form.get("limit", 50) or 50)
    page = max(1, int(form.get("page", 1) or 1))
    rows = rows[(page - 1) * limit: page * limit]
    return ok([{"id": r["serviceid"], "hostname": r["hostname"], "srvrname": r["srvrname"],
                "dedicatedip": r["main_ip"], "ip_v6": r["ip_v6"]} for r in rows])


@action(c.Action.CHECK_SERVICEID)
def _check_serviceid(state: HostwindsState, form: dict[str, Any]) -> Json:
    _instance(state, form, c.Action.CHECK_SERVICEID)
    return ok(True)


@action(c.Action.GET_INSTANCE_IPS)
def _get_instance_ips(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok({c.IPS_KEY: [dict(e) for e in _instance(state, form, c.Action.GET_INSTANCE_IPS)["ips"]]})


@action(c.Action.GET_PRICE_LIST)
def _get_price_list(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok(price_list())


@action(c.Action.GET_LOCATIONS)
def _get_locations(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok([dict(loc) for loc in state.locations])


@action(c.Action.GET_PUBLIC_IMAGES)
def _get_public_images(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok([dict(i) for i in IMAGES])


@action(c.Action.ADD_SSH_KEY)
def _add_ssh_key(state: HostwindsState, form: dict[str, Any]) -> Json:
    public_key = str(form.get(c.PARAM_SSH_PUBLIC_KEY, "")).strip()
    if not public_key.startswith(("ssh-", "ecdsa-")):
        raise fail(c.Action.ADD_SSH_KEY, "A valid public key is required.")
    key_id = state.next_id()
    state.ssh_keys[key_id] = {"name": str(form.get(c.PARAM_SSH_KEY_NAME, "")), "key": public_key}
    return ok({c.SSH_KEY_ID_FIELD: key_id})


@action(c.Action.ADD_INSTANCE)
def _add_instance(state: HostwindsState, form: dict[str, Any]) -> Json:
    act = c.Action.ADD_INSTANCE
    try:
        plan = plan_by_rid(form.get(c.PARAM_RID, ""))
    except KeyError:
        raise fail(act, "A valid rid is required.") from None
    location = str(form.get(c.PARAM_LOCATION_ID, ""))
    if location not in {str(loc["id"]) for loc in LOCATIONS}:
        raise fail(act, "A valid location_id is required.")
    template = str(form.get(c.PARAM_TEMPLATE, ""))
    if template not in {i["id"] for i in IMAGES}:
        raise fail(act, "A valid template is required.")
    srvrname = str(form.get(c.PARAM_SRVRNAME, "")).strip()
    if not srvrname:
        raise fail(act, "A srvrname is required.")
    keys = list(state.default_authorized_keys)
    for key_id in form.get(f"{c.PARAM_SSH_KEYS}[]", []):
        try:
            keys.append(state.ssh_keys[int(key_id)]["key"])
        except (KeyError, ValueError):
            raise fail(act, f"Unknown ssh key id {key_id}.") from None
    record = state._new_instance(srvrname, plan["rid"], int(location), template)
    record["ssh_keys"] = [int(k) for k in form.get(f"{c.PARAM_SSH_KEYS}[]", [])]
    state.backend.create(srvrname, keys)
    return done(act, c.MSG_SERVER_CREATING)


@action(c.Action.TERMINATE)
def _terminate(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.TERMINATE)
    del state.instances[record["serviceid"]]
    for entry in record["ips"]:  # the addresses go back to the provider, their reverse DNS too
        if entry.get(c.IP_RDNS_KEY):
            state.backend.set_ptr(entry["ip"], None)
    state.backend.destroy(record["srvrname"])
    return done(c.Action.TERMINATE, "Server has been terminated.")


def _power(state: HostwindsState, form: dict[str, Any], act: c.Action, status: c.InstanceStatus,
           power: int, message: str) -> Json:
    record = _instance(state, form, act)
    if record["status"] not in (c.InstanceStatus.ACTIVE, c.InstanceStatus.SHUTOFF):
        raise fail(act, f"The server is {record['status']} and cannot be changed now.")
    record.update(status=status.value, power_state=power, updated_at=_timestamp())
    return done(act, message)


@action(c.Action.BOOT)
def _boot(state: HostwindsState, form: dict[str, Any]) -> Json:
    return _power(state, form, c.Action.BOOT, c.InstanceStatus.ACTIVE, 1, "Server is booting.")


@action(c.Action.SHUTDOWN)
def _shutdown(state: HostwindsState, form: dict[str, Any]) -> Json:
    return _power(state, form, c.Action.SHUTDOWN, c.InstanceStatus.SHUTOFF, 4, "Server is shutting down.")


@action(c.Action.REBOOT)
def _reboot(state: HostwindsState, form: dict[str, Any]) -> Json:
    return _power(state, form, c.Action.REBOOT, c.InstanceStatus.ACTIVE, 1, "Server is rebooting.")


@action(c.Action.REINSTALL_INSTANCE)
def _reinstall(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.REINSTALL_INSTANCE)
    template = str(form.get(c.PARAM_TEMPLATE, record["image"]["id"]))
    if template not in {i["id"] for i in IMAGES}:
        raise fail(c.Action.REINSTALL_INSTANCE, "A valid template is required.")
    record.update(status="REBUILD", image={"id": template, "name": _image_name(template)},
                  password=secrets.token_urlsafe(12), ready_at=state.clock.now() + state.build_seconds)
    return done(c.Action.REINSTALL_INSTANCE, "Server is being reinstalled.")


@action(c.Action.CHANGE_MAIN_IP)
def _change_main_ip(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.CHANGE_MAIN_IP)
    if record["status"] != c.InstanceStatus.ACTIVE:
        raise fail(c.Action.CHANGE_MAIN_IP, f"The server is {record['status']}; try again when it is ACTIVE.")
    # The silent cooldown: the API reports success and nothing happens.
    if state.take_fault(c.Action.CHANGE_MAIN_IP, kinds={"cooldown"}) is None and not record["pending_ip"]:
        new = state.backend.extra_address(record["srvrname"])
        record["pending_ip"] = {"ip": new, "at": state.clock.now() + state.ip_change_seconds}
    return done(c.Action.CHANGE_MAIN_IP, "Main IP change has been requested.")


@action(c.Action.SET_RDNS)
def _set_rdns(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.SET_RDNS)
    ip, rdns = str(form.get(c.PARAM_IP, "")), str(form.get(c.PARAM_RDNS, "")).strip().rstrip(".")
    entry = next((e for e in record["ips"] if e["ip"] == ip), None)
    if entry is None:
        raise fail(c.Action.SET_RDNS, "The IP does not belong to this service.")
    labels = rdns.split(".")
    if len(labels) < 2 or not all(lbl and lbl.replace("-", "").isalnum() and len(lbl) < 64 for lbl in labels):
        raise fail(c.Action.SET_RDNS, "Invalid hostname given.")
    state.backend.set_ptr(ip, rdns.lower())
    entry[c.IP_RDNS_KEY] = rdns.lower()
    return done(c.Action.SET_RDNS, "rDNS has been updated.")


@action(c.Action.CHECK_UPGRADE_ORDER)
def _check_upgrade_order(state: HostwindsState, form: dict[str, Any]) -> Json:
    return ok(bool(_instance(state, form, c.Action.CHECK_UPGRADE_ORDER)["upgrade"]))


@action(c.Action.UPGRADE_INSTANCE)
def _upgrade_instance(state: HostwindsState, form: dict[str, Any]) -> Json:
    act = c.Action.UPGRADE_INSTANCE
    record = _instance(state, form, act)
    if record["upgrade"]:
        raise fail(act, "There is already a pending upgrade order for this service.")
    try:
        plan = plan_by_rid(form.get(c.PARAM_RID, ""))
    except KeyError:
        raise fail(act, "A valid rid is required.") from None
    record["upgrade"] = {"rid": plan["rid"], "from": record["product_id"], "applied": False}
    return done(act, "Upgrade order has been created.")


@action(c.Action.UPGRADE_SERVER)
def _upgrade_server(state: HostwindsState, form: dict[str, Any]) -> Json:
    act = c.Action.UPGRADE_SERVER
    record = _instance(state, form, act)
    order = record["upgrade"]
    if not order or order["applied"]:
        raise fail(act, "There is no upgrade order to apply.")
    _apply_plan(record, order["rid"])
    order["applied"] = True
    record.update(status="RESIZE", ready_at=state.clock.now() + state.resize_seconds)
    return done(act, "Server is being upgraded.")


@action(c.Action.CONFIRM_UPGRADE)
def _confirm_upgrade(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.CONFIRM_UPGRADE)
    if record["status"] != c.InstanceStatus.RESIZED:
        raise fail(c.Action.CONFIRM_UPGRADE, f"The server is {record['status']}, not RESIZED.")
    record.update(status=c.InstanceStatus.ACTIVE.value, upgrade=None, updated_at=_timestamp())
    return done(c.Action.CONFIRM_UPGRADE, "Upgrade has been confirmed.")


@action(c.Action.REVERT_UPGRADE)
def _revert_upgrade(state: HostwindsState, form: dict[str, Any]) -> Json:
    record = _instance(state, form, c.Action.REVERT_UPGRADE)
    order = record["upgrade"]
    if not order:
        raise fail(c.Action.REVERT_UPGRADE, "There is no upgrade order to revert.")
    _apply_plan(record, order["from"])
    record.update(status=c.InstanceStatus.ACTIVE.value, upgrade=None, ready_at=None)
    return done(c.Action.REVERT_UPGRADE, "Upgrade has been reverted.")


def _apply_plan(record: dict[str, Any], rid: int) -> None:
    plan = plan_by_rid(rid)
    record.update(product_id=plan["rid"], product_name=plan["name"], ram=plan["ram"], cpu=plan["cpu"],
                  disk=plan["disk"], bandwidth=plan["bandwidth"],
                  flavor=_flavor(plan))


def _flavor(plan: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"flavor-{plan['rid']}", "ram": plan["ram"], "vcpus": plan["cpu"], "disk": plan["disk"]}


# --- the app -------------------------------------------------------------------------------------
def _authorized(state: HostwindsState, key: str, remote: str | None) -> bool:
    allow = state.keys.get(key)
    if allow is None or not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if address.version != 4:  # keys are bound to IPv4 addresses only
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allow)


def _form() -> dict[str, Any]:
    form: dict[str, Any] = {}
    for key in request.form:
        form[key] = request.form.getlist(key) if key.endswith("[]") else request.form[key]
    return form


def _json(body: Json, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


def create_app(state: HostwindsState | None = None, *, state_dir: Path | None = None) -> Flask:
    """The double as a Flask app. `state` defaults to a fresh HostwindsState.

    Started by the testbed (`testbed.doubles.serve`, env MAILFLEET_TESTBED_INSTANCE set and a
    state_dir given) it boots real testbed hosts; MAILFLEET_HOSTWINDS_DOUBLE_BACKEND=fake|testbed
    overrides that. MAILFLEET_HOSTWINDS_DOUBLE_SEED=N seeds N instances (benchmarks, demo).
    """
    if state is None:
        state = HostwindsState()
        backend = os.environ.get("MAILFLEET_HOSTWINDS_DOUBLE_BACKEND") or (
            "testbed" if state_dir is not None and os.environ.get("MAILFLEET_TESTBED_INSTANCE") else "fake")
        if backend == "testbed":
            state.backend = TestbedHosts(int(os.environ.get("MAILFLEET_TESTBED_INSTANCE", "1")))
            state.build_seconds = 0  # the host's own boot is the build: BUILD until it answers SSH
        for name, value in (("build_seconds", "BUILD_SECONDS"), ("ip_change_seconds", "IP_CHANGE_SECONDS"),
                            ("resize_seconds", "RESIZE_SECONDS")):
            if os.environ.get(f"MAILFLEET_HOSTWINDS_DOUBLE_{value}"):
                setattr(state, name, float(os.environ[f"MAILFLEET_HOSTWINDS_DOUBLE_{value}"]))
        if os.environ.get("MAILFLEET_HOSTWINDS_DOUBLE_SEED"):
            state.seed(int(os.environ["MAILFLEET_HOSTWINDS_DOUBLE_SEED"]))
    app = Flask(__name__)
    app.config["HOSTWINDS_STATE"] = state

    @app.after_request
    def label(response: Response) -> Response:
        response.headers[DOUBLE_HEADER] = "hostwinds"
        return response

    @app.post(c.API_PATH)
    def api() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return _json(NOT_AUTHORIZED)  # a JSON (or any non-form) body: the authorization error
        form = _form()
        act = str(form.get(c.FIELD_ACTION, ""))
        with state.lock:
            state.calls[act] += 1
        fault = state.take_fault(act, kinds=Fault.KINDS - {"cooldown", "lost_after"})
        if fault is not None:
            if fault.kind in ("timeout", "slow"):
                time.sleep(fault.delay)
            if fault.kind == "html":  # a maintenance page answered with 200
                return Response(HTML_PAGE, status=200, mimetype="text/html")
            if fault.kind == "http_500":
                return Response("Internal Server Error", status=500, mimetype="text/plain")
            if fault.kind == "not_authorized":
                return _json([NOT_AUTHORIZED])
        if not _authorized(state, str(form.get(c.FIELD_KEY, "")), request.remote_addr):
            return _json(NOT_AUTHORIZED)
        handler = ACTIONS.get(act)
        if handler is None:
            return _json([{c.RESULT_KEY: c.RESULT_ERROR, "message": c.MSG_INVALID_ACTION,
                           c.ERROR_CODE_KEY: c.CODE_INVALID_ACTION}])
        with state.lock:
            try:
                body = handler(state, form)
            except ApiFailure as failure:
                body = failure.body
        if state.take_fault(act, kinds={"lost_after"}) is not None:
            return Response(HTML_PAGE, status=502, mimetype="text/html")  # done, but the answer is lost
        return _json(body)

    # --- test-only administration (not part of the Hostwinds API) -----------------------------
    @app.post("/_double/faults")
    def add_fault() -> Response:
        data = request.get_json(force=True)
        if data.get("kind") not in Fault.KINDS:
            return _json({"error": f"kind must be one of {sorted(Fault.KINDS)}"}, 400)
        with state.lock:
            state.faults.append(Fault(kind=data["kind"], action=data.get("action"),
                                      count=data.get("count", 1), delay=float(data.get("delay", 0))))
        return _json({"faults": len(state.faults)})

    @app.delete("/_double/faults")
    def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
        return _json({"faults": 0})

    @app.post("/_double/clock")
    def advance_clock() -> Response:
        state.clock.advance(float(request.get_json(force=True).get("advance", 0)))
        return _json({"now": state.clock.now()})

    @app.post("/_double/seed")
    def seed() -> Response:
        with state.lock:
            state.seed(int(request.get_json(force=True).get("count", 0)))
        return _json({"instances": len(state.instances)})

    @app.post("/_double/keys")
    def add_key() -> Response:
        data = request.get_json(force=True)
        with state.lock:
            state.keys[str(data["key"])] = tuple(data.get("allow", DEFAULT_ALLOW))
        return _json({"keys": len(state.keys)})

    @app.post("/_double/builds")
    def hold_builds() -> Response:
        state.hold_builds = bool(request.get_json(force=True).get("hold"))
        return _json({"hold": state.hold_builds})

    @app.get("/_double/state")
    def show_state() -> Response:
        with state.lock:
            return jsonify(instances=len(state.instances), calls=dict(state.calls), faults=len(state.faults),
                           statuses=dict(Counter(r["status"] for r in state.instances.values())))

    @app.post("/_double/calls/reset")
    def reset_calls() -> Response:
        with state.lock:
            state.calls.clear()
        return _json({"calls": {}})

    return app
