"""What the library/hostwinds_* Ansible modules share: options, the client, instance lookup, results.

The modules run on the controller (`delegate_to: localhost`, `ansible_python_interpreter:
"{{ ansible_playbook_python }}"`) so they import this installed package. Kept here rather than in
module_utils so the plugin, the modules and the app use one copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from mailfleet.hostwinds.client import HostwindsClient
from mailfleet.hostwinds.contract import DEFAULT_API_URL
from mailfleet.hostwinds.errors import HostwindsError, InstanceNotFoundError
from mailfleet.hostwinds.redact import redact
from mailfleet.validation import ValidationError

__all__ = ["CONNECTION_OPTIONS", "TARGET_OPTIONS", "WAIT_OPTIONS", "client_from_params", "find_target",
           "plan_rid", "run_module"]

#: Options every hostwinds_* module takes. The key is no_log: Ansible masks it in every output.
CONNECTION_OPTIONS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "no_log": True},
    "api_url": {"type": "str"},
    "api_timeout": {"type": "float", "default": 30.0},
    "poll_interval": {"type": "float", "default": 10.0},
}
#: Waiting for a state (ACTIVE after create, SHUTOFF after shutdown, ...).
WAIT_OPTIONS: dict[str, dict[str, Any]] = {
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "float", "default": 1800.0},
}
#: How a module names its instance: the unique srvrname, or the serviceid.
TARGET_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "aliases": ["srvrname"]},
    "serviceid": {"type": "int"},
}


def client_from_params(params: Mapping[str, Any]) -> HostwindsClient:
    """The client for a module's parameters; api_key/api_url fall back to HOSTWINDS_API_KEY/_URL."""
    api_key = params.get("api_key") or os.environ.get("HOSTWINDS_API_KEY", "")
    api_url = params.get("api_url") or os.environ.get("HOSTWINDS_API_URL") or DEFAULT_API_URL
    return HostwindsClient(api_key, api_url=api_url, timeout=(5.0, float(params["api_timeout"])),
                           poll_interval=float(params["poll_interval"]))


def find_target(
    client: HostwindsClient, params: Mapping[str, Any], *, required: bool
) -> dict[str, Any] | None:
    """The instance named by `serviceid` or `name` (srvrname); None or an error when there is none."""
    if params.get("serviceid"):
        return client.get_instance(params["serviceid"])
    name = params.get("name")
    if not name:
        raise ValidationError("give the instance's name (srvrname) or serviceid")
    found = client.find_instance(name)
    if found is None and required:
        raise InstanceNotFoundError(f"No Hostwinds instance is labelled {name!r}; create it first "
                                    "(hostwinds_instance state=present).")
    return found


def plan_rid(plans: list[dict[str, Any]], plan: str) -> int:
    """The rid of a plan given as rid ("102") or exact name ("Unmetered SSD VPS 2 GB")."""
    for entry in plans:
        if str(entry.get("rid")) == str(plan).strip() or entry.get("name") == plan:
            return int(entry["rid"])
    known = ", ".join(f"{p.get('rid')} ({p.get('name')}, {p.get('monthly')}/month)" for p in plans)
    raise ValidationError(f"unknown Hostwinds plan {plan!r}; known plans: {known}")


def run_module(module: Any, body: Callable[[HostwindsClient], dict[str, Any]]) -> None:
    """Run `body` with a client; exit with its (redacted) result, or fail with a clear message.

    Bad input and every HostwindsError become fail_json with the client's message, which never
    holds the key, a password or a configkey; results are redacted again on the way out.
    """
    try:
        client = client_from_params(module.params)
        result = body(client)
    except ValidationError as exc:
        module.fail_json(msg=f"Invalid input: {exc}. Nothing was changed.")
    except HostwindsError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__)
    else:
        module.exit_json(**redact(result))
