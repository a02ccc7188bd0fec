#!/usr/bin/python
"""Ansible module: move a Hostwinds Cloud instance to another plan (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_resize
short_description: Resize a Hostwinds Cloud instance to a plan (upgrade, then confirm)
description:
  - Orders the upgrade (C(upgrade_instance) with the plan's rid), applies it (C(upgrade_server)), waits for
    C(RESIZED) and confirms it (C(confirm_upgrade)), then waits for C(ACTIVE).
  - Idempotent. An instance already on the plan and ACTIVE is left alone; one on the plan but still
    C(RESIZED) (an earlier run stopped before confirming) is only confirmed.
  - Only one upgrade order can be open at a time; an open order for another plan fails with a clear message.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.hostwinds
  - mailfleet.fleet.hostwinds.target
options:
  plan:
    description: The plan, as rid or exact plan name.
    type: str
    required: true
  confirm:
    description: Confirm the upgrade once applied (otherwise leave it RESIZED).
    type: bool
    default: true
  wait_timeout: {description: Seconds to wait for each state., type: float, default: 1800}
"""

EXAMPLES = r"""
- name: Give the tenant's server the 4 GB plan
  mailfleet.fleet.hostwinds_resize:
    name: mf-acme-1
    plan: "103"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

RETURN = r"""
instance:
  description: The instance after the change (no password or configkey).
  type: dict
  returned: always
plan:
  description: The plan (rid, name, prices as strings).
  type: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.hostwinds import (  # noqa: E402
    client_from_params,
    get_target,
    run_hostwinds_module,
)

from mailfleet.hostwinds.contract import InstanceStatus  # noqa: E402
from mailfleet.hostwinds.instances import on_plan, plan_rid  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    plans = client.price_list()
    rid = plan_rid(plans, params["plan"])
    plan = next(p for p in plans if int(p["rid"]) == rid)
    instance = get_target(client, params)
    sid = instance["serviceid"]
    status = instance.get("status")
    if on_plan(instance, rid, plans) and (status == InstanceStatus.ACTIVE or not params["confirm"]):
        return {"changed": False, "instance": instance, "plan": plan}
    if module.check_mode:
        return {"changed": True, "instance": instance, "plan": plan}
    if on_plan(instance, rid, plans) and status == InstanceStatus.RESIZED:
        instance = client.confirm_upgrade(sid, timeout=params["wait_timeout"])
    else:
        instance = client.resize(sid, rid, confirm=params["confirm"], timeout=params["wait_timeout"])
    return {"changed": True, "instance": instance, "plan": plan}


def main() -> None:
    run_hostwinds_module(
        {
            "plan": {"type": "str", "required": True},
            "confirm": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 1800.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
