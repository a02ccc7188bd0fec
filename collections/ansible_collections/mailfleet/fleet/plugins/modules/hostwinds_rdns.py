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
  - "Runs on the controller, where the mailfleet package is installed: use C(delegate_to: localhost) and
    set C(ansible_python_interpreter) to C({{ ansible_playbook_python }}). Supports check mode."
options:
  api_key: {description: Hostwinds API key; defaults to env HOSTWINDS_API_KEY., type: str}
  api_url: {description: API endpoint; defaults to env HOSTWINDS_API_URL, then the real API., type: str}
  api_timeout: {description: Seconds to wait for each answer., type: float, default: 30}
  poll_interval: {description: Seconds between status checks while waiting., type: float, default: 10}
  name: {description: The instance's unique label (srvrname)., type: str, aliases: [srvrname]}
  serviceid: {description: The instance's id (instead of O(name))., type: int}
  ip: {description: The address; defaults to the main IP., type: str}
  rdns: {description: The host name for the PTR (e.g. mail.acme.example)., type: str, required: true}
"""

EXAMPLES = r"""
- name: PTR of the main IP is the mail host name
  hostwinds_rdns:
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

# Runs on the controller (delegate_to: localhost) where the mailfleet package is installed.
from mailfleet.hostwinds.ansible_support import CONNECTION_OPTIONS, TARGET_OPTIONS, find_target, run_module  # noqa: E402
from mailfleet.hostwinds.client import HostwindsClient  # noqa: E402
from mailfleet.hostwinds.contract import IP_RDNS_KEY  # noqa: E402
from mailfleet.validation import ValidationError, normalize_hostname  # noqa: E402


def run(module: AnsibleModule, client: HostwindsClient) -> dict[str, Any]:
    params = module.params
    rdns = normalize_hostname(params["rdns"])
    instance = find_target(client, params, required=True)
    assert instance is not None
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
    module = AnsibleModule(
        argument_spec={**CONNECTION_OPTIONS, **TARGET_OPTIONS, "ip": {"type": "str"},
                       "rdns": {"type": "str", "required": True}},
        required_one_of=[("name", "serviceid")],
        mutually_exclusive=[("name", "serviceid")],
        supports_check_mode=True,
    )
    run_module(module, lambda client: run(module, client))


if __name__ == "__main__":
    main()
