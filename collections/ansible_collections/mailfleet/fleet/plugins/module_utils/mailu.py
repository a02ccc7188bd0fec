"""What the library/mailu_* Ansible modules share: connection options, the client, comparisons.

Kept here (an installed package) rather than in module_utils so every caller imports one copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mailfleet.mailu.client import USER_FIELDS, MailuClient
from mailfleet.mailu.errors import MailuError, MailuNotFoundError
from mailfleet.validation import ValidationError

__all__ = ["CONNECTION_OPTIONS", "changed_fields", "client_from_params", "user_field_options"]

# Options every mailu_* module takes. The token is no_log: Ansible masks it in every output.
CONNECTION_OPTIONS: dict[str, dict[str, Any]] = {
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


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted values (None = not managed) that differ from ``current``; lists compare as sets."""
    changes = {}
    for key, value in wanted.items():
        if value is None:
            continue
        have = current.get(key)
        if isinstance(value, list | tuple) and isinstance(have, list | tuple):
            if sorted(map(str, value)) == sorted(map(str, have)):
                continue
        elif have == value:
            continue
        changes[key] = list(value) if isinstance(value, tuple) else value
    return changes


def current_or_none(get: Callable[[str], dict[str, Any]], key: str) -> dict[str, Any] | None:
    """What Mailu has under key, or None where it has nothing."""
    try:
        return get(key)
    except MailuNotFoundError:
        return None


def ensure_absent(
    current: Mapping[str, Any] | None, delete: Callable[[str], Any], key: str, check_mode: bool
) -> dict[str, Any]:
    """state=absent: delete what exists (not in check mode) and say whether anything changed."""
    if current is not None and not check_mode:
        delete(key)
    return {"changed": current is not None}


def run_module(argument_spec: dict[str, Any], run: Callable[[Any], dict[str, Any]]) -> None:
    """The mailu_* modules' entry point: check mode on, Mailu and input errors as clean failures."""
    from ansible.module_utils.basic import AnsibleModule  # only inside a module run

    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except (MailuError, ValidationError) as exc:
        module.fail_json(msg=str(exc), status=getattr(exc, "status", None))
