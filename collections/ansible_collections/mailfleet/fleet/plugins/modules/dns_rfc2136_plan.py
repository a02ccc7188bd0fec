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
    (a second SPF, a CNAME beside data) fail the task before anything changes.
  - Changes nothing itself.
options:
  server: {description: Primary server address., type: str, required: true}
  port: {description: DNS port., type: int, default: 53}
  units:
    description: Units from M(dns_mail_records) (manifest + records).
    type: list
    elements: dict
    required: true
  timeout: {description: Seconds per query., type: float, default: 5}
author: mailfleet
"""

RETURN = r"""
updates:
  description: nsupdate arguments (zone, record, type, ttl, value, state) in the order to apply.
  type: list
  returned: always
present:
  description: Records every authoritative server must answer afterwards (for M(dns_wait)).
  type: list
  returned: always
absent:
  description: Records that must be gone afterwards.
  type: list
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

try:
    from mailfleet.dns import AuthoritativeReader, DnsError, Record, plan_unit
except ImportError as exc:  # pragma: no cover
    IMPORT_ERROR: Exception | None = exc
else:
    IMPORT_ERROR = None


def _records(items: list[dict]) -> list:
    return [Record.make(i["name"], i["type"], i["value"], int(i.get("ttl", 600))) for i in items]


def _as_dicts(records: list) -> list[dict]:
    return [{"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl} for r in records]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "server": {"type": "str", "required": True},
            "port": {"type": "int", "default": 53},
            "units": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "float", "default": 5.0},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=f"mailfleet is not importable (run on the controller): {IMPORT_ERROR}")
    p = module.params
    reader = AuthoritativeReader(p["server"], port=p["port"], timeout=p["timeout"])
    updates, present, absent = [], [], []
    try:
        for unit in p["units"]:
            plan = plan_unit(unit["manifest"], _records(unit.get("records") or []), reader)
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
    except DnsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, updates=updates, present=_as_dicts(present), absent=_as_dicts(absent))


if __name__ == "__main__":
    main()
