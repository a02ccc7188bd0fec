#!/usr/bin/python
"""Ansible module: give a server at any provider a new main IP, through mailfleet.providers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: server_main_ip
short_description: Change the main IPv4 of a server at a VPS provider
description:
  - Works through mailfleet's provider interface. Hostwinds gives the instance a new main IP
    (its silent cooldown after repeated changes fails clearly, nothing changed); DigitalOcean keeps a
    droplet's address for its life, so there the module fails clearly and changes nothing.
  - "Idempotent with O(replace): the IP is only changed while it is still that address, so a second run
    changes nothing. Without O(replace) every run changes the IP."
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.server
options:
  replace:
    description: Change the main IP only while it is this address (e.g. one found on a blacklist).
    type: str
  wait_timeout:
    description: Seconds to wait for the new IP.
    type: float
    default: 180
"""

EXAMPLES = r"""
- name: Move off a blacklisted address
  mailfleet.fleet.server_main_ip:
    provider: hostwinds
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
from ansible_collections.mailfleet.fleet.plugins.module_utils.server import (  # noqa: E402
    provider_from_params,
    require_server,
    run_server_module,
)

from mailfleet.validation import ValidationError  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    replace = params["replace"]
    if replace is not None:
        try:
            replace = str(ipaddress.IPv4Address(replace))
        except ValueError:
            raise ValidationError(f"replace={replace!r} is not an IPv4 address") from None
    provider = provider_from_params(params)
    server = require_server(provider, params["name"])
    old = server.get("public_ipv4")
    if replace is not None and old != replace:
        return {"changed": False, "old_ip": old, "main_ip": old}
    if module.check_mode:
        return {"changed": True, "old_ip": old, "main_ip": old}
    new = provider.change_main_ip(server["provider_id"], timeout=params["wait_timeout"])
    return {"changed": True, "old_ip": old, "main_ip": new}


def main() -> None:
    run_server_module(
        {
            "replace": {"type": "str"},
            "wait_timeout": {"type": "float", "default": 180.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
