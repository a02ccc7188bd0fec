#!/usr/bin/python
"""Ansible module: plan RFC 2136 updates for ownership units by reading the primary server."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_rfc2136_plan
short_description: Plan the RRset updates that bring owned records to the wanted state
description:
  - Reads the live zone from the primary (plain queries), the ownership manifest at
    C(_mailfleet.<owner>), and returns the RRset updates for community.general.nsupdate, in order.
  - Foreign records are kept (carried along in replaced RRsets); conflicting foreign records
    (a second SPF, a CNAME beside data) fail the task before anything changes, unless
    I(take_over) is set.
  - Changes nothing itself.
options:
  server: {description: Primary server address., type: str, required: true}
  port: {description: DNS port., type: int, default: 53}
  units:
    description: Units from M(mailfleet.fleet.dns_mail_records) (manifest + records).
    type: list
    elements: dict
    required: true
  timeout: {description: Seconds per query., type: float, default: 5}
author: mailfleet (!UNKNOWN)
extends_documentation_fragment: [mailfleet.fleet.controller, mailfleet.fleet.dns]
"""

EXAMPLES = r"""
- name: Plan the updates against the primary
  mailfleet.fleet.dns_rfc2136_plan:
    server: 192.0.2.53
    units: "{{ dns_records.units }}"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: plan
"""

RETURN = r"""
updates:
  description: nsupdate arguments (zone, record, type, ttl, value, state) in the order to apply.
  type: list
  returned: always
present:
  description: Records every authoritative server must answer afterwards (for M(mailfleet.fleet.dns_wait)).
  type: list
  returned: always
absent:
  description: Records that must be gone afterwards.
  type: list
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import run_module  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.dns import as_dicts, records  # noqa: E402

from mailfleet.dns import AuthoritativeReader, Record, plan_unit  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    reader = AuthoritativeReader(p["server"], port=p["port"], timeout=p["timeout"])
    updates, present, absent = [], [], []
    for unit in p["units"]:
        wanted = records(unit.get("records") or [])
        plan = plan_unit(unit["manifest"], wanted, reader, take_over=p["take_over"])
        for change in plan.rrsets:
            reader.overlay(change)
            updates.append({
                "zone": reader.zone_for(change.name),
                "record": change.name + ".",
                "type": change.rtype,
                "ttl": change.ttl,
                "value": [Record(change.name, change.rtype, v).wire_text() for v in change.values],
                "state": change.state,
            })
        present += [*plan.present, *plan.manifest_after]
        absent += plan.remove
    return {"changed": False, "updates": updates, "present": as_dicts(present), "absent": as_dicts(absent)}


def main() -> None:
    run_module(
        {
            "server": {"type": "str", "required": True},
            "port": {"type": "int", "default": 53},
            "units": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "float", "default": 5.0},
            "take_over": {"type": "bool", "default": False},
        },
        run,
    )


if __name__ == "__main__":
    main()
