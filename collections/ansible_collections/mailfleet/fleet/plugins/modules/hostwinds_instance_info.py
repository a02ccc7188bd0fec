#!/usr/bin/python
"""Ansible module: read Hostwinds Cloud instances with plan and price (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_instance_info
short_description: Read Hostwinds Cloud instances, with location, plan and monthly price
description:
  - Returns one instance (O(name) or O(serviceid)) or all of them, each with the same derived fields as the
    C(hostwinds) inventory plugin (location, tenant, plan, plan_rid, monthly_price as a string, addresses).
  - Never returns the root password or configkey. Changes nothing.
  - "Runs on the controller, where the mailfleet package is installed: use C(delegate_to: localhost) and
    set C(ansible_python_interpreter) to C({{ ansible_playbook_python }}). Supports check mode."
options:
  api_key: {description: Hostwinds API key; defaults to env HOSTWINDS_API_KEY., type: str}
  api_url: {description: API endpoint; defaults to env HOSTWINDS_API_URL, then the real API., type: str}
  api_timeout: {description: Seconds to wait for each answer., type: float, default: 30}
  poll_interval: {description: Seconds between status checks while waiting., type: float, default: 10}
  name: {description: The instance's unique label (srvrname)., type: str, aliases: [srvrname]}
  serviceid: {description: The instance's id (instead of O(name))., type: int}
"""

EXAMPLES = r"""
- name: What does the fleet cost per month?
  hostwinds_instance_info:
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

# Runs on the controller (delegate_to: localhost) where the mailfleet package is installed.
from mailfleet.hostwinds.ansible_support import CONNECTION_OPTIONS, TARGET_OPTIONS, find_target, run_module  # noqa: E402
from mailfleet.hostwinds.client import HostwindsClient  # noqa: E402
from mailfleet.hostwinds.contract import KNOWN_LOCATIONS  # noqa: E402
from mailfleet.hostwinds.instances import inventory_record  # noqa: E402


def run(module: AnsibleModule, client: HostwindsClient) -> dict[str, Any]:
    params = module.params
    if params["name"] or params["serviceid"]:
        one = find_target(client, params, required=False)
        instances = [one] if one else []
    else:
        instances = client.list_instances()
    plans = client.price_list()
    names = dict(KNOWN_LOCATIONS)
    if any(i.get("location_id") not in names for i in instances):
        names.update({int(loc["id"]): str(loc["name"]) for loc in client.locations()})
    return {"changed": False, "instances": [inventory_record(i, plans, names, attributes=list(i))
                                            for i in instances]}


def main() -> None:
    module = AnsibleModule(
        argument_spec={**CONNECTION_OPTIONS, **TARGET_OPTIONS},
        mutually_exclusive=[("name", "serviceid")],
        supports_check_mode=True,
    )
    run_module(module, lambda client: run(module, client))


if __name__ == "__main__":
    main()
