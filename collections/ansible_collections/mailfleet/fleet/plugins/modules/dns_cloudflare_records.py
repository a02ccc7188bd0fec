#!/usr/bin/python
"""Ansible module: bring owned records to the wanted state on Cloudflare (API v4)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_cloudflare_records
short_description: Publish ownership units through the Cloudflare API, never proxied
description:
  - Same ownership rules as the RFC 2136 path (manifest at C(_mailfleet.<owner>), foreign
    records kept, conflicts fail before any change unless I(take_over) is set); records are
    created, deleted or patched
    one by one through mailfleet.cloudflare (the official SDK underneath).
options:
  api_token:
    description: Cloudflare API token (Zone.DNS edit, Zone read).
    type: str
    required: true
  api_base_url:
    description: API base URL (a double in tests).
    type: str
    default: "https://api.cloudflare.com/client/v4"
  units:
    description: Units from M(mailfleet.fleet.dns_mail_records).
    type: list
    elements: dict
    required: true
  timeout: {description: Seconds per API call., type: float, default: 30}
author: mailfleet (!UNKNOWN)
extends_documentation_fragment: [mailfleet.fleet.controller, mailfleet.fleet.dns]
"""

EXAMPLES = r"""
- name: Publish the records through Cloudflare
  mailfleet.fleet.dns_cloudflare_records:
    api_token: "{{ cloudflare_api_token }}"
    units: "{{ dns_records.units }}"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: published
"""

RETURN = r"""
changes: {description: One line per change made., type: list, returned: always}
present: {description: Records that must be served afterwards., type: list, returned: always}
absent: {description: Records that must be gone afterwards., type: list, returned: always}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import ModuleFailure, run_module  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.dns import as_dicts, records  # noqa: E402

from mailfleet.cloudflare import CloudflareClient, CloudflareError  # noqa: E402
from mailfleet.dns import DnsError, Record  # noqa: E402
from mailfleet.dns.cloudflare_provider import sync_unit  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    changes, present, absent, planned = [], [], [], False
    try:
        client = CloudflareClient(p["api_token"], base_url=p["api_base_url"], timeout=p["timeout"])
        # Validate every unit before the first call, so bad input changes nothing.
        units = [(u["manifest"], records(u.get("records") or [])) for u in p["units"]]
        for manifest, wanted in units:
            plan, done = sync_unit(client, Record.make(manifest, "TXT", "x").name, wanted,
                                   check_mode=module.check_mode, take_over=p["take_over"])
            planned = planned or bool(plan.add or plan.remove or plan.retime)
            changes += done
            present += [*plan.present, *plan.manifest_after]
            absent += plan.remove
    except (DnsError, CloudflareError) as exc:
        raise ModuleFailure(exc, changes=changes) from None  # what was done before the failure
    changed = bool(changes) or (module.check_mode and planned)
    return {"changed": changed, "changes": changes, "present": as_dicts(present), "absent": as_dicts(absent)}


def main() -> None:
    run_module(
        {
            "api_token": {"type": "str", "required": True, "no_log": True},
            "api_base_url": {"type": "str", "default": "https://api.cloudflare.com/client/v4"},
            "units": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "float", "default": 30.0},
            "take_over": {"type": "bool", "default": False},
        },
        run,
    )


if __name__ == "__main__":
    main()
