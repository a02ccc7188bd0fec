#!/usr/bin/python
"""Ansible module: give a Hostwinds Cloud instance a new main IP (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_main_ip
short_description: Change the main IP address of a Hostwinds Cloud instance
description:
  - Asks Hostwinds for a new main IP (C(change_main_ip)) and waits until the instance shows it (about a
    minute on Hostwinds).
  - Hostwinds has a silent cooldown after repeated IP changes; it reports success and keeps the old IP.
    The module detects this (same IP after O(wait_timeout)) and fails with a clear message; nothing changed.
  - "Idempotent with O(replace): the IP is only changed while it is still that address, so a second run
    changes nothing. Without O(replace) every run changes the IP."
  - The request is never resent after a lost answer (the IP could change twice).
  - "Runs on the controller, where the mailfleet package is installed: use C(delegate_to: localhost) and
    set C(ansible_python_interpreter) to C({{ ansible_playbook_python }}). Supports check mode."
options:
  api_key: {description: Hostwinds API key; defaults to env HOSTWINDS_API_KEY., type: str}
  api_url: {description: API endpoint; defaults to env HOSTWINDS_API_URL, then the real API., type: str}
  api_timeout: {description: Seconds to wait for each answer., type: float, default: 30}
  poll_interval: {description: Seconds between status checks while waiting., type: float, default: 10}
  name: {description: The instance's unique label (srvrname)., type: str, aliases: [srvrname]}
  serviceid: {description: The instance's id (instead of O(name))., type: int}
  replace:
    description: Change the main IP only while it is this address (e.g. one found on a blacklist).
    type: str
  wait_timeout:
    description: Seconds to wait for the new IP before calling it the cooldown.
    type: float
    default: 180
"""

EXAMPLES = r"""
- name: Move off a blacklisted address
  hostwinds_main_ip:
    name: mf-acme-1
    replace: "{{ blacklisted_ip }}"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: ip
"""

RETURN = r"""
old_ip: {description: The main IP before., type: str, returned: always}
main_ip: {description: The main IP now (unchanged in check mode)., type: str, returned: always}
"""

import ipaddress  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Runs on the controller (delegate_to: localhost) where the mailfleet package is installed.
from mailfleet.hostwinds.ansible_support import CONNECTION_OPTIONS, TARGET_OPTIONS, find_target, run_module  # noqa: E402
from mailfleet.hostwinds.client import HostwindsClient  # noqa: E402
from mailfleet.validation import ValidationError  # noqa: E402


def run(module: AnsibleModule, client: HostwindsClient) -> dict[str, Any]:
    params = module.params
    replace = params["replace"]
    if replace is not None:
        try:
            replace = str(ipaddress.IPv4Address(replace))
        except ValueError:
            raise ValidationError(f"replace={replace!r} is not an IPv4 address") from None
    instance = find_target(client, params, required=True)
    assert instance is not None
    old = instance.get("main_ip")
    if replace is not None and old != replace:
        return {"changed": False, "old_ip": old, "main_ip": old}
    if module.check_mode:
        return {"changed": True, "old_ip": old, "main_ip": old}
    new = client.change_main_ip(instance["serviceid"], timeout=params["wait_timeout"])
    return {"changed": True, "old_ip": old, "main_ip": new}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_OPTIONS, **TARGET_OPTIONS,
            "replace": {"type": "str"},
            "wait_timeout": {"type": "float", "default": 180.0},
        },
        required_one_of=[("name", "serviceid")],
        mutually_exclusive=[("name", "serviceid")],
        supports_check_mode=True,
    )
    run_module(module, lambda client: run(module, client))


if __name__ == "__main__":
    main()
