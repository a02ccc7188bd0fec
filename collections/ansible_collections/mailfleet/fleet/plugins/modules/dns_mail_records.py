#!/usr/bin/python
"""Ansible module: compute the DNS records of a mail host and its mail domains (no changes made)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_mail_records
short_description: Build the DNS records a Mailu mail server and its domains need
description:
  - Pure computation on the controller; returns ownership units (host unit, then one per domain)
    for M(mailfleet.fleet.dns_rfc2136_plan) or M(mailfleet.fleet.dns_cloudflare_records). Changes nothing.
  - Records, defaults and the ownership marker are described in roles/dns/README.md.
options:
  host:
    description: Mail host name (MX target, first of Mailu's HOSTNAMES).
    type: str
    required: true
  ipv4: {description: IPv4 addresses of the mail host., type: list, elements: str, default: []}
  ipv6: {description: IPv6 addresses of the mail host., type: list, elements: str, default: []}
  tlsa:
    description: TLSA values for _25._tcp.<host> ("3 1 1 <hex>").
    type: list
    elements: str
    default: []
  domains:
    description: Mail domains (name, state, dkim_public_key, ... see the role README).
    type: list
    elements: dict
    default: []
  ttl: {description: TTL of every record., type: int, default: 600}
  defaults:
    description: Settings applied to every domain unless the domain sets them.
    type: dict
    default: {}
author: mailfleet (!UNKNOWN)
extends_documentation_fragment: [mailfleet.fleet.controller]
"""

EXAMPLES = r"""
- name: Records of the mail host and one domain
  mailfleet.fleet.dns_mail_records:
    host: mail.acme.example
    ipv4: [203.0.113.10]
    domains:
      - name: acme.example
        dkim_public_key: "{{ acme_dkim_public_key }}"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: dns_records
"""

RETURN = r"""
units:
  description: Ownership units, each with owner, manifest and records (name, type, value, ttl).
  type: list
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import run_module  # noqa: E402

from mailfleet.dns import build_units  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    units = build_units(host=p["host"], ipv4=p["ipv4"], ipv6=p["ipv6"], tlsa=p["tlsa"],
                        domains=p["domains"], ttl=p["ttl"], defaults=p["defaults"])
    return {"changed": False, "units": [u.as_dict() for u in units]}


def main() -> None:
    run_module(
        {
            "host": {"type": "str", "required": True},
            "ipv4": {"type": "list", "elements": "str", "default": []},
            "ipv6": {"type": "list", "elements": "str", "default": []},
            "tlsa": {"type": "list", "elements": "str", "default": []},
            "domains": {"type": "list", "elements": "dict", "default": []},
            "ttl": {"type": "int", "default": 600},
            "defaults": {"type": "dict", "default": {}},
        },
        run,
    )


if __name__ == "__main__":
    main()
