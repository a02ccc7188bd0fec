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
author: mailfleet
"""

RETURN = r"""
report:
  description: ok, seconds, rounds, lagging servers, summary and per-server problems.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

try:
    from mailfleet.dns import (
        DnsError,
        PropagationTimeout,
        Record,
        expectations,
        wait_everywhere,
    )
except ImportError as exc:  # pragma: no cover
    IMPORT_ERROR: Exception | None = exc
else:
    IMPORT_ERROR = None


def _records(items: list[dict]) -> list:
    return [Record.make(i["name"], i["type"], i["value"], int(i.get("ttl", 600))) for i in items]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "present": {"type": "list", "elements": "dict", "default": []},
            "absent": {"type": "list", "elements": "dict", "default": []},
            "servers": {"type": "list", "elements": "str", "default": []},
            "resolver": {"type": "str"},
            "port": {"type": "int", "default": 53},
            "timeout": {"type": "float", "default": 120.0},
            "interval": {"type": "float", "default": 2.0},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=f"mailfleet is not importable (run on the controller): {IMPORT_ERROR}")
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, report={"ok": True, "summary": "not checked in check mode"})
    try:
        wanted = expectations(_records(p["present"]), _records(p["absent"]))
        report = wait_everywhere(
            wanted, servers=p["servers"], resolver=p["resolver"], port=p["port"],
            timeout=p["timeout"], interval=p["interval"],
        )
    except PropagationTimeout as exc:
        module.fail_json(msg=str(exc), report=exc.report.as_dict())
    except DnsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, report=report.as_dict())


if __name__ == "__main__":
    main()
