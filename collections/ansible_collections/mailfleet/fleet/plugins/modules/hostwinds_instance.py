#!/usr/bin/python
"""Ansible module: a Hostwinds Cloud instance's existence and power state (mailfleet.hostwinds)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hostwinds_instance
short_description: Create, delete, power and rebuild a Hostwinds Cloud instance
description:
  - Finds the instance by its unique label (srvrname; mailfleet uses C(mf-<tenant>-<n>)) or serviceid.
  - C(present) creates it when no instance has the label and waits until it is ACTIVE. Hostwinds answers
    a create without an id, so the new server is found by its label; a lost answer is never resent.
    A second run finds the instance and changes nothing (plan and location of an existing instance are
    not changed here; see M(mailfleet.fleet.server_resize)).
  - C(absent) terminates it; C(started)/C(stopped) boot or shut it down when needed; C(restarted) reboots
    and C(rebuilt) reinstalls it with O(image) (both always change).
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.hostwinds
  - mailfleet.fleet.hostwinds.target
options:
  state:
    description: What the instance should be.
    type: str
    default: present
    choices: [present, absent, started, stopped, restarted, rebuilt]
  plan:
    description: Plan for a new instance, as rid or exact plan name (required to create).
    type: str
  location: {description: "Location for a new instance: name (Dallas) or id (required to create).", type: str}
  image: {description: Image (template) to install or reinstall., type: str, default: debian-12}
  ssh_public_key:
    description: Public key to authorize for root on a new instance (registered with add_ssh_key).
    type: str
  wait: {description: Wait for the resulting state (ACTIVE or SHUTOFF)., type: bool, default: true}
  wait_timeout: {description: Seconds to wait., type: float, default: 1800}
"""

EXAMPLES = r"""
- name: The tenant's mail server exists and runs
  mailfleet.fleet.hostwinds_instance:
    api_key: "{{ hostwinds_api_key }}"
    name: mf-acme-1
    plan: "102"
    location: Dallas
    ssh_public_key: "{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  register: server
"""

RETURN = r"""
instance:
  description: The instance (without password and configkey); empty when absent or only planned in check mode.
  type: dict
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.hostwinds import (  # noqa: E402
    client_from_params,
    find_target,
    get_target,
    run_hostwinds_module,
)

from mailfleet.hostwinds.client import HostwindsClient  # noqa: E402
from mailfleet.hostwinds.contract import InstanceStatus  # noqa: E402
from mailfleet.hostwinds.instances import plan_rid  # noqa: E402
from mailfleet.hostwinds.naming import validate_label  # noqa: E402
from mailfleet.validation import ValidationError  # noqa: E402

ACTIVE = InstanceStatus.ACTIVE.value
SHUTOFF = InstanceStatus.SHUTOFF.value


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    client = client_from_params(params)
    state = params["state"]
    if state == "absent":
        current = find_target(client, params)
        if current is not None and not module.check_mode:
            client.terminate(current["serviceid"])
        return {"changed": current is not None, "instance": {}}
    if state == "present":
        return present(module, client, find_target(client, params))
    current = get_target(client, params)
    sid = current["serviceid"]
    status = current.get("status")
    if state == "started" and status == ACTIVE or state == "stopped" and status == SHUTOFF:
        return {"changed": False, "instance": current}
    if module.check_mode:
        return {"changed": True, "instance": current}
    if state == "started":
        client.boot(sid)
    elif state == "stopped":
        client.shutdown(sid)
    elif state == "restarted":
        client.reboot(sid)
    else:
        client.reinstall(sid, params["image"])
    wanted = SHUTOFF if state == "stopped" else ACTIVE
    instance = client.wait_for_status(sid, {wanted}, timeout=params["wait_timeout"]) if params["wait"] else (
        client.get_instance(sid))
    return {"changed": True, "instance": instance}


def present(module: AnsibleModule, client: HostwindsClient, current: dict[str, Any] | None) -> dict[str, Any]:
    params = module.params
    if current is not None:
        if params["wait"] and current.get("status") != ACTIVE and not module.check_mode:
            current = client.wait_for_status(current["serviceid"], {ACTIVE}, timeout=params["wait_timeout"])
        return {"changed": False, "instance": current}
    if params["serviceid"]:
        raise ValidationError(f"no instance has serviceid {params['serviceid']}; create by name instead")
    name = validate_label(params["name"])
    if not params["plan"] or not params["location"]:
        raise ValidationError(f"{name!r} does not exist yet; give plan and location to create it")
    rid = plan_rid(client.price_list(), params["plan"])
    location_id = client.location_id(params["location"])
    if module.check_mode:
        return {"changed": True, "instance": {}}
    keys = [client.add_ssh_key(name, params["ssh_public_key"])] if params["ssh_public_key"] else []
    instance = client.add_instance(name, rid, location_id, params["image"], ssh_key_ids=keys)
    if params["wait"]:
        instance = client.wait_for_status(instance["serviceid"], {ACTIVE}, timeout=params["wait_timeout"])
    return {"changed": True, "instance": instance}


def main() -> None:
    run_hostwinds_module(
        {
            "state": {"type": "str", "default": "present",
                      "choices": ["present", "absent", "started", "stopped", "restarted", "rebuilt"]},
            "plan": {"type": "str"},
            "location": {"type": "str"},
            "image": {"type": "str", "default": "debian-12"},
            "ssh_public_key": {"type": "str"},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "float", "default": 1800.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
