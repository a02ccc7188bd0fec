"""`HostwindsClient`: the one client for the Hostwinds Cloud API (plugin, modules and web app).

- form-encoded POSTs to the single endpoint, over IPv4 only (transport.IPv4Adapter);
- every envelope normalized (envelope.parse); errors raised as typed exceptions (errors.py);
- `password` and `configkey` stripped from every response before anything else sees it;
- bounded retries with exponential backoff for timeouts, 5xx, 429 and non-JSON bodies, but only
  for actions that are safe to repeat (contract.RETRY_SAFE_ACTIONS) or requests that surely never
  reached the server (connect failures); add_instance is sent once and then looked up by its unique
  srvrname, so a lost answer never leads to a second server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Unpack

import requests

from mailfleet.apiclient import ApiClient, ApiOptions, Retry, never_sent
from mailfleet.hostwinds import contract as c
from mailfleet.hostwinds.envelope import parse
from mailfleet.hostwinds.errors import (
    AmbiguousResultError,
    ApiError,
    ConfigurationError,
    ContractError,
    CooldownError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidServiceIdError,
    TimeoutWaitingError,
    TransportError,
    UpgradeInProgressError,
)
from mailfleet.hostwinds.transport import ipv4_session
from mailfleet.redact import without_keys

Instance = dict[str, Any]
Result = dict[str, Any]


class _LostAnswer(Exception):
    """Internal: the request may have reached the server but no usable answer came back."""


class HostwindsClient(ApiClient):
    """Client for one Hostwinds account (one API key).

    >>> client = HostwindsClient(api_key, api_url="http://127.0.0.1:8080/cloud/api.php")
    >>> client.list_instances()        # list of instance dicts, secrets stripped
    """

    service = "Hostwinds"
    configuration_error = ConfigurationError
    log = logging.getLogger("mailfleet.hostwinds")
    default_max_backoff = 8.0
    default_poll_interval = 10.0

    def __init__(self, api_key: str, api_url: str = c.DEFAULT_API_URL, **options: Unpack[ApiOptions]) -> None:
        self._api_key = self.checked_credential(
            api_key,
            "No Hostwinds API key given: set HOSTWINDS_API_KEY or store it as the secret "
            "global/hostwinds (field api_key).",
            "The Hostwinds API key contains spaces or control characters; copy it again from "
            "Hostwinds portal > Cloud > API.",
        )
        super().__init__(api_url, **options)

    def _new_session(self) -> requests.Session:
        return ipv4_session()

    # --- low level -------------------------------------------------------------------------
    def call(self, action: str, **params: Any) -> Any:
        """Send `action` with `params`; return the redacted data or raise a HostwindsError."""
        form = self._form(str(action), params)
        body = self._retrying(str(action), lambda: self._attempt(str(action), form))
        return parse(str(action), body, params)

    def _form(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        form: dict[str, Any] = {c.FIELD_ACTION: action, c.FIELD_KEY: self._api_key}
        for key, value in params.items():
            if value is None:
                continue
            if isinstance(value, list | tuple | set):
                form[f"{key}[]"] = [str(v) for v in value]
            else:
                form[key] = str(value)
        return form

    def _attempt(self, action: str, form: dict[str, Any]) -> Any:
        """One request. An answer that may have been lost is retried only for an action that is safe
        to repeat (contract.RETRY_SAFE_ACTIONS); any other raises AmbiguousResultError."""
        try:
            return self._answer(action, form)
        except _LostAnswer as lost:
            if action not in c.RETRY_SAFE_ACTIONS:
                self.log.warning("hostwinds %s: %s", action, lost)
                raise AmbiguousResultError(
                    f"Hostwinds {action!r}: {lost}. The request may or may not have been carried "
                    "out, so it was not repeated. Check the instance (hostwinds_instance_info or "
                    "the portal) before running it again.",
                    action=action,
                ) from None
            raise Retry(str(lost)) from None

    def _answer(self, action: str, form: dict[str, Any]) -> Any:
        try:
            response = self._session.post(
                self.api_url, data=form, timeout=self.timeout, allow_redirects=False,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            if never_sent(exc):
                raise Retry(f"could not connect ({_reason(exc)})") from None
            if isinstance(exc, requests.Timeout):
                raise _LostAnswer(f"no answer within the read timeout ({self.timeout})") from None
            raise _LostAnswer(f"connection lost ({_reason(exc)})") from None
        status = response.status_code
        if status == 429:
            raise Retry("HTTP 429 (rate limited)")
        if status >= 500:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise _LostAnswer(f"HTTP {status} ({kind})")
        if status != 200:
            raise ConfigurationError(
                f"{self.api_url} answered HTTP {status} to {action!r}; the Hostwinds API answers 200 for "
                "everything, so api_url is probably wrong.",
                action=action,
            )
        try:
            data = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise _LostAnswer(f"the body was not JSON ({kind}, {len(response.content)} bytes)") from None
        return without_keys(data, c.SECRET_FIELDS)

    def _gave_up(self, what: str, last: str) -> Exception:
        return TransportError(
            f"Hostwinds API at {self.api_url} gave no usable answer to {what!r} after {self.attempts} "
            f"attempts (last: {last}). Check the network and api_url, then try again later.",
            action=what,
        )

    # --- reads -----------------------------------------------------------------------------
    def list_instances(self) -> list[Instance]:
        """Every instance on the account (one get_instances call)."""
        return _records(c.Action.GET_INSTANCES, self.call(c.Action.GET_INSTANCES))

    def get_instance(self, serviceid: int | str) -> Instance:
        data = self.call(c.Action.GET_INSTANCE, serviceid=_serviceid(serviceid))
        if not isinstance(data, dict):
            raise ContractError(f"get_instance answered {type(data).__name__}, expected an object.",
                                action=c.Action.GET_INSTANCE)
        return data

    def find_instance(self, srvrname: str) -> Instance | None:
        """The instance labelled `srvrname`, or None. Two with the same label is an error."""
        found = [i for i in self.list_instances() if i.get("srvrname") == srvrname]
        if len(found) > 1:
            ids = ", ".join(str(i.get("serviceid")) for i in found)
            raise ApiError(
                f"{len(found)} instances are labelled {srvrname!r} (serviceids {ids}); mailfleet needs "
                "srvrname to be unique. Rename or terminate the extra ones in the portal."
            )
        return found[0] if found else None

    def check_serviceid(self, serviceid: int | str) -> bool:
        return bool(self.call(c.Action.CHECK_SERVICEID, serviceid=_serviceid(serviceid)))

    def instance_ips(self, serviceid: int | str) -> list[dict[str, Any]]:
        """IP entries of an instance: `[{"ip": "...", ...}]` (an `rdns` key if the API gives one)."""
        data = self.call(c.Action.GET_INSTANCE_IPS, serviceid=_serviceid(serviceid))
        entries = data.get(c.IPS_KEY) if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ContractError(f"get_instance_ips did not contain {c.IPS_KEY!r}.",
                                action=c.Action.GET_INSTANCE_IPS)
        return [e if isinstance(e, dict) else {"ip": str(e)} for e in entries]

    def price_list(self) -> list[dict[str, Any]]:
        """Plans: rid, name, ram, cpu, disk, bandwidth and prices as strings (monthly, ...)."""
        return _records(c.Action.GET_PRICE_LIST, self.call(c.Action.GET_PRICE_LIST))

    def locations(self) -> list[dict[str, Any]]:
        return _records(c.Action.GET_LOCATIONS, self.call(c.Action.GET_LOCATIONS))

    def location_id(self, name_or_id: str | int) -> int:
        """The id of a location given its name ("Dallas", case-insensitive) or id."""
        locations = self.locations()
        for loc in locations:
            if str(loc.get(c.LOCATION_ID_FIELD)) == str(name_or_id) or (
                str(loc.get(c.LOCATION_NAME_FIELD, "")).lower() == str(name_or_id).strip().lower()
            ):
                return int(loc[c.LOCATION_ID_FIELD])
        names = ", ".join(str(loc.get(c.LOCATION_NAME_FIELD)) for loc in locations)
        raise ConfigurationError(f"Unknown Hostwinds location {name_or_id!r}; known: {names}.")

    # --- lifecycle -------------------------------------------------------------------------
    def add_instance(
        self,
        srvrname: str,
        rid: int | str,
        location_id: int | str,
        template: str,
        *,
        ssh_key_ids: Iterable[int | str] = (),
        lookup_timeout: float = c.CREATE_LOOKUP_TIMEOUT_S,
    ) -> Instance:
        """Create one instance and return it (usually still BUILD).

        add_instance answers without an id, so the new server is found by its srvrname, which must
        be unused: an existing one raises InstanceExistsError and nothing is sent. The request is
        never repeated; if its answer is lost and the name does not appear, AmbiguousResultError.
        """
        if not isinstance(srvrname, str) or not srvrname.strip():
            raise ConfigurationError("srvrname must be a non-empty label (mailfleet uses mf-<tenant>-<n>).")
        existing = self.find_instance(srvrname)
        if existing is not None:
            raise InstanceExistsError(
                f"An instance labelled {srvrname!r} exists already (serviceid {existing.get('serviceid')}); "
                "not creating a second one.", action=c.Action.ADD_INSTANCE,
            )
        params: dict[str, Any] = {
            c.PARAM_SRVRNAME: srvrname, c.PARAM_RID: rid, c.PARAM_LOCATION_ID: location_id,
            c.PARAM_TEMPLATE: template,
        }
        keys = [str(k) for k in ssh_key_ids]
        if keys:
            params[c.PARAM_SSH_KEYS] = keys
        lost: AmbiguousResultError | None = None
        try:
            self.call(c.Action.ADD_INSTANCE, **params)
        except AmbiguousResultError as exc:
            lost = exc
        for found in self._polled(lambda: self.find_instance(srvrname), lookup_timeout):
            if found is not None:
                return found
        what = "lost its answer" if lost else "was accepted"
        raise AmbiguousResultError(
            f"The request to create {srvrname!r} {what}, but no instance with that label appeared "
            f"within {lookup_timeout:.0f} s. It may still appear: check the portal, then run again "
            "(a new run looks the label up first and will not create a second server).",
            action=c.Action.ADD_INSTANCE,
        )

    def wait_for_status(
        self, serviceid: int | str, statuses: Iterable[str], *, timeout: float = c.BUILD_TIMEOUT_S,
    ) -> Instance:
        """Poll get_instance until its status is one of `statuses`; ERROR or timeout raise."""
        wanted = {str(s) for s in statuses}
        status = ""
        for instance in self._polled(lambda: self.get_instance(serviceid), timeout):
            status = str(instance.get("status", ""))
            if status in wanted:
                return instance
            if status == c.InstanceStatus.ERROR and c.InstanceStatus.ERROR not in wanted:
                raise ApiError(f"Instance {serviceid} is in status ERROR; repair or rebuild it in the "
                               "portal.")
        raise TimeoutWaitingError(
            f"Instance {serviceid} is still {status or 'without status'} after {timeout:.0f} s "
            f"(waiting for {', '.join(sorted(wanted))}). Run again later; nothing will be duplicated."
        )

    def terminate(self, serviceid: int | str) -> Result:
        """Terminate an instance. A lost answer is settled by checking whether the id still exists."""
        sid = _serviceid(serviceid)
        try:
            return self.call(c.Action.TERMINATE, serviceid=sid)
        except AmbiguousResultError:
            try:
                self.get_instance(sid)
            except InvalidServiceIdError:
                return {"result": c.RESULT_OK, "action": "Terminate", "message": "terminated"}
            raise

    def boot(self, serviceid: int | str) -> Result:
        return self.call(c.Action.BOOT, serviceid=_serviceid(serviceid))

    def shutdown(self, serviceid: int | str) -> Result:
        return self.call(c.Action.SHUTDOWN, serviceid=_serviceid(serviceid))

    def reboot(self, serviceid: int | str) -> Result:
        return self.call(c.Action.REBOOT, serviceid=_serviceid(serviceid))

    def reinstall(self, serviceid: int | str, template: str) -> Result:
        return self.call(c.Action.REINSTALL_INSTANCE, serviceid=_serviceid(serviceid),
                         **{c.PARAM_TEMPLATE: template})

    def add_ssh_key(self, name: str, public_key: str) -> int:
        data = self.call(c.Action.ADD_SSH_KEY, **{c.PARAM_SSH_KEY_NAME: name,
                                                   c.PARAM_SSH_PUBLIC_KEY: public_key})
        try:
            return int(data[c.SSH_KEY_ID_FIELD])
        except (TypeError, KeyError, ValueError):
            raise ContractError("add_ssh_key did not answer with an id.",
                                action=c.Action.ADD_SSH_KEY) from None

    # --- network ---------------------------------------------------------------------------
    def set_rdns(self, serviceid: int | str, ip: str, rdns: str) -> Result:
        return self.call(c.Action.SET_RDNS, serviceid=_serviceid(serviceid),
                         **{c.PARAM_IP: ip, c.PARAM_RDNS: rdns})

    def get_rdns(self, serviceid: int | str, ip: str) -> str | None:
        """The PTR of `ip` if the API reports it (unverified field; None when unknown)."""
        for entry in self.instance_ips(serviceid):
            if entry.get("ip") == ip:
                value = entry.get(c.IP_RDNS_KEY)
                return str(value) if value else None
        return None

    def change_main_ip(self, serviceid: int | str, *, timeout: float = c.MAIN_IP_CHANGE_TIMEOUT_S) -> str:
        """Ask for a new main IP and wait until it shows; return it.

        Hostwinds reports success even during its silent cooldown and leaves the IP as it was; an
        unchanged IP after `timeout` raises CooldownError. The request is never repeated.
        """
        sid = _serviceid(serviceid)
        old = self.get_instance(sid).get("main_ip")
        lost = False
        try:
            self.call(c.Action.CHANGE_MAIN_IP, serviceid=sid)
        except AmbiguousResultError:
            lost = True
        for current in self._polled(lambda: self.get_instance(sid).get("main_ip"), timeout):
            if current and current != old:
                return str(current)
        if lost:
            raise AmbiguousResultError(
                f"The main IP change of instance {sid} lost its answer and the IP is still {old} after "
                f"{timeout:.0f} s. Check the portal before asking again.", action=c.Action.CHANGE_MAIN_IP,
            )
        raise CooldownError(
            f"Hostwinds reported the main IP change of instance {sid} as done, but after {timeout:.0f} s "
            f"the main IP is still {old}. Most likely the silent cooldown after repeated IP changes "
            "(nothing changed: wait, Hostwinds does not say how long, and run again); or the change is "
            f"slower than usual: check the instance later. Asking with replace={old} only acts while "
            "the IP is still that address, so a new run never changes it twice.",
            action=c.Action.CHANGE_MAIN_IP,
        )

    # --- resize ----------------------------------------------------------------------------
    def upgrade_order_open(self, serviceid: int | str) -> bool:
        """True when an upgrade order is open (check_upgrade_order answers {"success": bool}, unverified)."""
        return bool(self.call(c.Action.CHECK_UPGRADE_ORDER, serviceid=_serviceid(serviceid)))

    def resize(self, serviceid: int | str, rid: int | str, *, confirm: bool = True,
               timeout: float = c.BUILD_TIMEOUT_S) -> Instance:
        """Move an instance to plan `rid`: upgrade_instance, upgrade_server, wait, confirm_upgrade."""
        sid = _serviceid(serviceid)
        if self.upgrade_order_open(sid):
            raise UpgradeInProgressError(
                f"Instance {sid} already has an open upgrade order (only one at a time): confirm or "
                "revert it, then run again.", action=c.Action.UPGRADE_INSTANCE,
            )
        self.call(c.Action.UPGRADE_INSTANCE, serviceid=sid, **{c.PARAM_RID: rid})
        self.call(c.Action.UPGRADE_SERVER, serviceid=sid)
        instance = self.wait_for_status(sid, {c.InstanceStatus.RESIZED, c.InstanceStatus.ACTIVE},
                                        timeout=timeout)
        if confirm and instance.get("status") == c.InstanceStatus.RESIZED:
            return self.confirm_upgrade(sid, timeout=timeout)
        return instance

    def confirm_upgrade(self, serviceid: int | str, *, timeout: float = c.BUILD_TIMEOUT_S) -> Instance:
        sid = _serviceid(serviceid)
        self.call(c.Action.CONFIRM_UPGRADE, serviceid=sid)
        return self.wait_for_status(sid, {c.InstanceStatus.ACTIVE}, timeout=timeout)

    def require_instance(self, srvrname: str) -> Instance:
        found = self.find_instance(srvrname)
        if found is None:
            raise InstanceNotFoundError(f"No Hostwinds instance is labelled {srvrname!r}.")
        return found


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _serviceid(value: int | str) -> int:
    try:
        sid = int(str(value).strip())
    except ValueError:
        sid = 0
    if sid <= 0 or isinstance(value, bool):
        raise InvalidServiceIdError(
            f"{value!r} is not a serviceid (a positive whole number); nothing was sent.",
        )
    return sid


def _records(action: str, data: Any) -> list[dict[str, Any]]:
    """A list of objects from a list, or from an object keyed by id (both shapes are seen)."""
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = list(data.values())
    else:
        raise ContractError(f"{action} answered {type(data).__name__}, expected a list.", action=action)
    if not all(isinstance(item, dict) for item in items):
        raise ContractError(f"{action} answered a list that holds non-objects.", action=action)
    return items
