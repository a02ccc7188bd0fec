#!/usr/bin/python
"""Ansible module: read Hostwinds Cloud instances with plan and price (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_instance_info
short_description: Read Hostwinds Cloud instances, with location, plan and monthly price
description:
  - Returns one instance (O(name) or O(serviceid)) or all of them, each with the same derived fields as the
    C(hostwinds) inventory plugin (location, tenant, plan, plan_rid, monthly_price as a string, addresses).
  - Changes nothing.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.hostwinds
  - mailfleet.fleet.hostwinds.target
options: {}
"""

EXAMPLES = r"""
- name: What does the fleet cost per month?
  mailfleet.fleet.hostwinds_instance_info:
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: fleet
"""

RETURN = r"""
instances:
  description: The instances found (an empty list for an unknown name).
  type: list
  elements: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.hostwinds import (  # noqa: E402
    client_from_params,
    find_target,
    run_hostwinds_module,
)

from mailfleet.hostwinds.instances import instance_records  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    if params["name"] or params["serviceid"]:
        one = find_target(client, params)
        instances = [one] if one else []
    else:
        instances = client.list_instances()
    return {"changed": False, "instances": instance_records(client, instances, client.price_list())}


def main() -> None:
    run_hostwinds_module({}, run, one_target=False)


if __name__ == "__main__":
    main()
