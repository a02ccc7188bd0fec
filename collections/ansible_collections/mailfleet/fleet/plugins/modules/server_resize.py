#!/usr/bin/python
"""Ansible module: move a server at any provider to another plan, through mailfleet.providers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: server_resize
short_description: Resize a server at a VPS provider to a plan
description:
  - Works through mailfleet's provider interface. At Hostwinds the upgrade is ordered, applied and
    confirmed (an upgrade applied but not confirmed is only confirmed); at DigitalOcean the droplet
    is powered off, resized with its disk (a disk cannot shrink again) and powered on.
  - Idempotent. A server already active on the plan is left alone.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.server
options:
  plan:
    description: The plan, as its id (Hostwinds rid, DigitalOcean size slug) or exact name.
    type: str
    required: true
  wait_timeout: {description: Seconds to wait for each step., type: float, default: 1800}
"""

EXAMPLES = r"""
- name: Give the tenant's server the 4 GB size
  mailfleet.fleet.server_resize:
    provider: digitalocean
    name: mf-acme-2
    plan: s-2vcpu-4gb
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

RETURN = r"""
server:
  description: The server record after the change (provider, provider_id, state, plan_id, monthly_price, ...).
  type: dict
  returned: always
plan:
  description: The plan (id, name, monthly price as a string).
  type: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.server import (  # noqa: E402
    provider_from_params,
    require_server,
    run_server_module,
)

from mailfleet.providers import find_plan  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    provider = provider_from_params(params)
    plan = find_plan(provider.plans(), params["plan"], provider.label)
    monthly = None if plan.monthly is None else str(plan.monthly)
    described = {"id": plan.id, "name": plan.name, "monthly": monthly}
    server = require_server(provider, params["name"])
    if module.check_mode:
        return {"changed": server["plan_id"] != plan.id, "server": server, "plan": described}
    server, changed = provider.resize(server["provider_id"], plan.id, timeout=params["wait_timeout"])
    return {"changed": changed, "server": server, "plan": described}


def main() -> None:
    run_server_module(
        {
            "plan": {"type": "str", "required": True},
            "wait_timeout": {"type": "float", "default": 1800.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
