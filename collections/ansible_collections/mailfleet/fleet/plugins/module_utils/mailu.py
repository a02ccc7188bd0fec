"""The mailu_* modules' options, client and lookups (the Mailu logic is mailfleet.mailu)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import ensure_absent, run_module

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


#: state=present's work for one module: (module, client, the object's key, what Mailu has or None).
Present = Callable[[AnsibleModule, MailuClient, str, "dict[str, Any] | None"], dict[str, Any]]


def run_object_module(
    key_option: str,
    normalize: Callable[[str], str],
    get: Callable[[MailuClient, str], dict[str, Any]],
    delete: Callable[[MailuClient, str], Any],
    options: dict[str, dict[str, Any]],
    present: Present,
) -> None:
    """A mailu_* module for one kind of Mailu object, named by the option ``key_option``: the API
    options, that key and ``state`` are its options before ``options``; it reads what Mailu has
    under the (normalized) key, deletes it for state=absent and otherwise leaves it to ``present``."""
    argument_spec = {
        **API_OPTIONS,
        key_option: {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        **options,
    }

    def run(module: AnsibleModule) -> dict[str, Any]:
        key = normalize(module.params[key_option])
        client = client_from_params(module.params)
        current = current_or_none(lambda k: get(client, k), key)
        if module.params["state"] == "absent":
            return ensure_absent(current, lambda: delete(client, key), module.check_mode)
        return present(module, client, key, current)

    run_module(argument_spec, run)
