"""The mailu_* modules' options, client and lookups (the Mailu logic is mailfleet.mailu)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mailfleet.mailu.client import USER_FIELDS, MailuClient
from mailfleet.mailu.errors import MailuNotFoundError

#: Documented once in the doc fragment mailfleet.fleet.mailu. The token is no_log.
API_OPTIONS: dict[str, dict[str, Any]] = {
    "api_url": {"type": "str", "required": True},
    "api_token": {"type": "str", "required": True, "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "float", "default": 30.0},
}

_ANSIBLE_TYPES = {bool: "bool", int: "int", str: "str", list: "list", tuple: "list"}


def client_from_params(params: Mapping[str, Any]) -> MailuClient:
    verify: bool | str = params["ca_path"] or params["validate_certs"]
    timeout = float(params["timeout"])
    return MailuClient(
        params["api_url"], params["api_token"], verify=verify, timeout=(min(timeout, 10.0), timeout)
    )


def user_field_options() -> dict[str, dict[str, Any]]:
    """Module options for Mailu's user fields, derived from the client's field table (one truth)."""
    options: dict[str, dict[str, Any]] = {}
    for name, types in USER_FIELDS.items():
        if name == "raw_password":
            continue
        option: dict[str, Any] = {"type": _ANSIBLE_TYPES[types[0]]}
        if option["type"] == "list":
            option["elements"] = "str"
        options[name] = option
    return options


def current_or_none(get: Callable[[str], dict[str, Any]], key: str) -> dict[str, Any] | None:
    """What Mailu has under key, or None where it has nothing."""
    try:
        return get(key)
    except MailuNotFoundError:
        return None
