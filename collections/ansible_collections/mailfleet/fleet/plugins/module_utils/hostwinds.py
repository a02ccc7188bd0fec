"""The hostwinds_* modules' options, client and instance lookup (the logic is mailfleet.hostwinds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import run_module

from mailfleet.hostwinds.client import HostwindsClient
from mailfleet.hostwinds.contract import DEFAULT_API_URL
from mailfleet.hostwinds.errors import InstanceNotFoundError
from mailfleet.settings import Settings
from mailfleet.validation import ValidationError

#: Documented once in the doc fragment mailfleet.fleet.hostwinds. The key is no_log.
API_OPTIONS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "no_log": True},
    "api_url": {"type": "str"},
    "api_timeout": {"type": "float", "default": 30.0},
    "poll_interval": {"type": "float", "default": 10.0},
}
#: How a module names its instance (doc fragment mailfleet.fleet.hostwinds.target).
TARGET_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "aliases": ["srvrname"]},
    "serviceid": {"type": "int"},
}
#: A module that acts on one existing instance takes exactly one of name and serviceid.
ONE_TARGET: dict[str, Any] = {
    "required_one_of": [("name", "serviceid")],
    "mutually_exclusive": [("name", "serviceid")],
}


def run_hostwinds_module(
    options: dict[str, dict[str, Any]],
    run: Callable[[AnsibleModule], dict[str, Any]],
    *,
    one_target: bool = True,
) -> None:
    """A hostwinds_* module: the API and target options with its own; ``one_target``: exactly one
    of name and serviceid (else at most one)."""
    target = ONE_TARGET if one_target else {"mutually_exclusive": ONE_TARGET["mutually_exclusive"]}
    run_module({**API_OPTIONS, **TARGET_OPTIONS, **options}, run, **target)


def client_from_params(params: Mapping[str, Any]) -> HostwindsClient:
    """The client for a module's parameters; api_key/api_url fall back to HOSTWINDS_API_KEY/_URL."""
    settings = Settings()
    api_key = params.get("api_key") or settings["HOSTWINDS_API_KEY"] or ""
    api_url = params.get("api_url") or settings["HOSTWINDS_API_URL"] or DEFAULT_API_URL
    return HostwindsClient(api_key, api_url=api_url, timeout=(5.0, float(params["api_timeout"])),
                           poll_interval=float(params["poll_interval"]))


def find_target(client: HostwindsClient, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The instance named by `serviceid` or `name` (srvrname), None when no instance has the name."""
    if params.get("serviceid"):
        return client.get_instance(params["serviceid"])  # an unknown id is an error
    name = params.get("name")
    if not name:
        raise ValidationError("give the instance's name (srvrname) or serviceid")
    return client.find_instance(name)


def get_target(client: HostwindsClient, params: Mapping[str, Any]) -> dict[str, Any]:
    """The instance named by `serviceid` or `name`, which must exist."""
    found = find_target(client, params)
    if found is None:
        raise InstanceNotFoundError(f"No Hostwinds instance is labelled {params['name']!r}; create it "
                                    "first (mailfleet.fleet.hostwinds_instance state=present).")
    return found
