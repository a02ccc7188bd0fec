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
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.hostwinds
  - mailfleet.fleet.hostwinds.target
options:
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
  mailfleet.fleet.hostwinds_main_ip:
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
from ansible_collections.mailfleet.fleet.plugins.module_utils.hostwinds import (  # noqa: E402
    client_from_params,
    get_target,
    run_hostwinds_module,
)

from mailfleet.validation import ValidationError  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    replace = params["replace"]
    if replace is not None:
        try:
            replace = str(ipaddress.IPv4Address(replace))
        except ValueError:
            raise ValidationError(f"replace={replace!r} is not an IPv4 address") from None
    instance = get_target(client, params)
    old = instance.get("main_ip")
    if replace is not None and old != replace:
        return {"changed": False, "old_ip": old, "main_ip": old}
    if module.check_mode:
        return {"changed": True, "old_ip": old, "main_ip": old}
    new = client.change_main_ip(instance["serviceid"], timeout=params["wait_timeout"])
    return {"changed": True, "old_ip": old, "main_ip": new}


def main() -> None:
    run_hostwinds_module(
        {
            "replace": {"type": "str"},
            "wait_timeout": {"type": "float", "default": 180.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
