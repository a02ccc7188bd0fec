#!/usr/bin/python
"""Ansible module: wait until every authoritative server answers the wanted values."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_wait
short_description: Wait until every authoritative name server serves the new records
description:
  - Asks each server directly (no recursion) for every name/type until the wanted values are
    served and the removed ones are gone; fails after I(timeout) naming the lagging servers.
  - Servers come from I(servers), or else from the NS set of each record's zone (zone and NS
    found through I(resolver), the controller's resolver when not given).
options:
  present:
    description: Records that must be served (name, type, value).
    type: list
    elements: dict
    default: []
  absent: {description: Records that must be gone., type: list, elements: dict, default: []}
  servers:
    description: Server addresses to ask; empty to use the NS sets.
    type: list
    elements: str
    default: []
  resolver: {description: Resolver used to find NS sets and their addresses., type: str}
  port: {description: DNS port., type: int, default: 53}
  timeout: {description: Seconds to wait in total., type: float, default: 120}
  interval: {description: Seconds between rounds., type: float, default: 2}
author: mailfleet (!UNKNOWN)
extends_documentation_fragment: [mailfleet.fleet.controller]
"""

EXAMPLES = r"""
- name: Wait until every authoritative server serves them
  mailfleet.fleet.dns_wait:
    present: "{{ published.present }}"
    absent: "{{ published.absent }}"
    timeout: 300
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

RETURN = r"""
report:
  description: ok, seconds, rounds, lagging servers, summary and per-server problems.
  type: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import ModuleFailure, run_module  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.dns import records  # noqa: E402

from mailfleet.dns import PropagationTimeout, expectations, wait_everywhere  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    if module.check_mode:
        return {"changed": False, "report": {"ok": True, "summary": "not checked in check mode"}}
    wanted = expectations(records(p["present"]), records(p["absent"]))
    try:
        report = wait_everywhere(
            wanted, servers=p["servers"], resolver=p["resolver"], port=p["port"],
            timeout=p["timeout"], interval=p["interval"],
        )
    except PropagationTimeout as exc:
        raise ModuleFailure(exc, report=exc.report.as_dict()) from None
    return {"changed": False, "report": report.as_dict()}


def main() -> None:
    run_module(
        {
            "present": {"type": "list", "elements": "dict", "default": []},
            "absent": {"type": "list", "elements": "dict", "default": []},
            "servers": {"type": "list", "elements": "str", "default": []},
            "resolver": {"type": "str"},
            "port": {"type": "int", "default": 53},
            "timeout": {"type": "float", "default": 120.0},
            "interval": {"type": "float", "default": 2.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
