"""The server modules' shared options and lookups (the logic is mailfleet.providers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import run_module

from mailfleet.providers import PROVIDER_NAMES, Provider, ServerRecord
from mailfleet.providers.clients import provider_from
from mailfleet.validation import ValidationError

#: Documented once in the doc fragment mailfleet.fleet.server. The key is no_log.
SERVER_OPTIONS: dict[str, dict[str, Any]] = {
    "provider": {"type": "str", "required": True, "choices": list(PROVIDER_NAMES)},
    "api_key": {"type": "str", "no_log": True},
    "api_url": {"type": "str"},
    "name": {"type": "str", "required": True},
    "poll_interval": {"type": "float", "default": 10.0},
}


def run_server_module(options: dict[str, dict[str, Any]],
                      run: Callable[[AnsibleModule], dict[str, Any]]) -> None:
    run_module({**SERVER_OPTIONS, **options}, run)


def provider_from_params(params: Mapping[str, Any]) -> Provider:
    return provider_from(params["provider"], params["api_key"], params["api_url"],
                         poll_interval=float(params["poll_interval"]))


def find_server(provider: Provider, name: str) -> ServerRecord | None:
    """The server labelled `name` on the account, None when there is none."""
    return next((s for s in provider.servers() if s["name"] == name), None)


def require_server(provider: Provider, name: str) -> ServerRecord:
    found = find_server(provider, name)
    if found is None:
        raise ValidationError(f"{provider.label} has no server labelled {name!r}")
    return found
