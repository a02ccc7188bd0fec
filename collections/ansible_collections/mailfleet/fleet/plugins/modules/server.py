#!/usr/bin/python
"""Ansible module: a server at any provider mailfleet knows, through mailfleet.providers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: server
short_description: Order or delete a server at a VPS provider, and set the PTR of its address
description:
  - Works through mailfleet's provider interface, so the same task serves every provider
    (C(hostwinds), C(digitalocean)).
  - C(present) finds the server by its label (C(mf-<tenant>-<n>)); when none has it, orders one
    with O(plan), O(location) and O(image) and waits until it is active. A second run finds it and
    changes nothing. With O(mail_hostname), the PTR of its main IPv4 is that name (at DigitalOcean
    this renames the droplet, whose name is its PTR; the label stays on a tag).
  - C(absent) deletes it.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.server
options:
  state: {description: Whether the server exists., type: str, choices: [present, absent], default: present}
  plan: {description: The plan (Hostwinds rid or name; DigitalOcean size slug) to order., type: str}
  location: {description: The location (Hostwinds name; DigitalOcean region slug) to order in., type: str}
  image: {description: "The image (default Debian 12: debian-12, debian-12-x64).", type: str}
  ssh_public_key: {description: The public key root logs in with., type: str}
  mail_hostname: {description: The PTR of the main IPv4., type: str}
  wait_timeout: {description: Seconds to wait until the server is active., type: float, default: 1800}
"""

EXAMPLES = r"""
- name: The tenant's server exists at DigitalOcean and its PTR is the mail host name
  mailfleet.fleet.server:
    provider: digitalocean
    api_key: "{{ lookup('mailfleet.fleet.secret', 'global/digitalocean', field='api_token') }}"
    name: mf-acme-2
    plan: s-1vcpu-2gb
    location: ams3
    mail_hostname: mail2.acme.example
  delegate_to: localhost
  register: server
"""

RETURN = r"""
server:
  description: >-
    The server record (provider, provider_id, name, state, location, region, plan, public_ipv4, ...);
    empty when absent.
  type: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.server import (  # noqa: E402
    find_server,
    provider_from_params,
    run_server_module,
)

from mailfleet.providers.clients import DEFAULT_IMAGES  # noqa: E402
from mailfleet.validation import ValidationError, normalize_hostname  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    provider = provider_from_params(params)
    current = find_server(provider, params["name"])
    if params["state"] == "absent":
        if current is not None and not module.check_mode:
            provider.destroy(current["provider_id"])
        return {"changed": current is not None, "server": {}}
    mail_hostname = normalize_hostname(params["mail_hostname"]) if params["mail_hostname"] else None
    changed = False
    if current is None:
        if not params["plan"] or not params["location"]:
            raise ValidationError(f"{params['name']!r} does not exist yet; give plan and location to "
                                  "order it")
        if module.check_mode:
            return {"changed": True, "server": {}}
        current = provider.create(params["name"], plan=params["plan"], location=params["location"],
                                  image=params["image"] or DEFAULT_IMAGES[params["provider"]],
                                  ssh_public_key=params["ssh_public_key"])
        changed = True
    if current["state"] != "active" and not module.check_mode:
        current = provider.wait_active(current["provider_id"], timeout=params["wait_timeout"])
    address = current.get("public_ipv4")
    if mail_hostname and address and provider.ptr(current["provider_id"], address) != mail_hostname:
        changed = True
        if not module.check_mode:
            provider.set_ptr(current["provider_id"], address, mail_hostname)
            current = provider.server(current["provider_id"])
    return {"changed": changed, "server": current}


def main() -> None:
    run_server_module(
        {
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "plan": {"type": "str"},
            "location": {"type": "str"},
            "image": {"type": "str"},
            "ssh_public_key": {"type": "str"},
            "mail_hostname": {"type": "str"},
            "wait_timeout": {"type": "float", "default": 1800.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
