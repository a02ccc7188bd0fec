#!/usr/bin/python
"""Ansible module: the reverse DNS (PTR) name of a Hostwinds Cloud instance's IP (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_rdns
short_description: Set the reverse DNS (PTR) name of a Hostwinds Cloud instance's address
description:
  - Sets the PTR of O(ip) (by default the main IP) to O(rdns) with C(set_rdns).
  - Idempotent when Hostwinds reports the current PTR (an C(rdns) field in C(get_instance_ips), unverified
    on the real API). When it does not, the name is set on every run and the result says so
    (C(rdns_known=false)).
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.hostwinds
  - mailfleet.fleet.hostwinds.target
options:
  ip: {description: The address; defaults to the main IP., type: str}
  rdns: {description: The host name for the PTR (e.g. mail.acme.example)., type: str, required: true}
"""

EXAMPLES = r"""
- name: PTR of the main IP is the mail host name
  mailfleet.fleet.hostwinds_rdns:
    name: mf-acme-1
    rdns: mail.acme.example
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""

RETURN = r"""
ip: {description: The address whose PTR was managed., type: str, returned: always}
rdns: {description: The PTR name now., type: str, returned: always}
rdns_known: {description: Whether Hostwinds reported the previous PTR., type: bool, returned: always}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.hostwinds import (  # noqa: E402
    client_from_params,
    get_target,
    run_hostwinds_module,
)

from mailfleet.hostwinds.contract import IP_RDNS_KEY  # noqa: E402
from mailfleet.validation import ValidationError, normalize_hostname  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    rdns = normalize_hostname(params["rdns"])
    instance = get_target(client, params)
    sid = instance["serviceid"]
    ip = str(params["ip"] or instance.get("main_ip") or "")
    entries = {e.get("ip"): e for e in client.instance_ips(sid)}
    if ip not in entries:
        have = ", ".join(map(str, entries))
        raise ValidationError(f"{ip} is not an address of instance {sid} (it has {have})")
    known = IP_RDNS_KEY in entries[ip]
    current = str(entries[ip].get(IP_RDNS_KEY) or "").rstrip(".").lower()
    if known and current == rdns:
        return {"changed": False, "ip": ip, "rdns": rdns, "rdns_known": True}
    if not module.check_mode:
        client.set_rdns(sid, ip, rdns)
    return {"changed": True, "ip": ip, "rdns": rdns, "rdns_known": known}


def main() -> None:
    run_hostwinds_module({"ip": {"type": "str"}, "rdns": {"type": "str", "required": True}}, run)


if __name__ == "__main__":
    main()
