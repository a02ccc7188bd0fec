#!/usr/bin/python
"""Ansible module: an alias on a Mailu server, through the admin API (mailfleet.mailu)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailu_alias
short_description: Manage an alias on a Mailu server
description:
  - Creates, updates (PATCH) or deletes an alias through Mailu's admin REST API (C(/api/v1/alias)).
  - Destinations must be existing local mailboxes (Mailu answers 404 otherwise); forwards to outside
    addresses are a mailbox's C(forward_destination).
  - Runs on the controller (C(delegate_to: localhost)); supports check mode.
options:
  api_url: {description: API root, e.g. https://mail.example.com/api/v1., type: str, required: true}
  api_token: {description: Mailu's API_TOKEN., type: str, required: true}
  validate_certs: {description: Verify the server's TLS certificate., type: bool, default: true}
  ca_path: {description: CA bundle to verify against., type: path}
  timeout: {description: Read timeout in seconds for each request., type: float, default: 30}
  email: {description: The alias address., type: str, required: true}
  state: {description: present or absent., type: str, choices: [present, absent], default: present}
  destination: {description: Local mailboxes it delivers to (required to create)., type: list, elements: str}
  comment: {description: Free text., type: str}
  wildcard: {description: SQL LIKE wildcard syntax in the local part., type: bool}
"""

EXAMPLES = r"""
- name: postmaster@ delivers to the admin
  mailu_alias:
    api_url: https://mail.acme.example/api/v1
    api_token: "{{ mailu_api_token }}"
    email: postmaster@acme.example
    destination: [admin@acme.example]
  delegate_to: localhost
"""

RETURN = r"""
alias: {description: The alias as Mailu reports it., type: dict, returned: state=present}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Runs on the controller (delegate_to: localhost) where the mailfleet package is installed.
from mailfleet.mailu.ansible_support import (  # noqa: E402
    CONNECTION_OPTIONS,
    changed_fields,
    client_from_params,
    current_or_none,
    ensure_absent,
    run_module,
)
from mailfleet.validation import normalize_email  # noqa: E402


def run(module: AnsibleModule) -> dict:
    params = module.params
    email = normalize_email(params["email"])
    client = client_from_params(params)
    current = current_or_none(client.get_alias, email)
    if params["state"] == "absent":
        return ensure_absent(current, client.delete_alias, email, module.check_mode)
    result: dict = {"changed": False}

    destination = None
    if params["destination"] is not None:
        destination = sorted({normalize_email(d) for d in params["destination"]})
    wanted = {"destination": destination, "comment": params["comment"], "wildcard": params["wildcard"]}
    if current is None:
        if not destination:
            module.fail_json(msg=f"alias {email} does not exist: destination is required to create it")
        result["changed"] = True
        if not module.check_mode:
            extra = {k: v for k, v in wanted.items() if v is not None and k != "destination"}
            client.create_alias(email, destination, **extra)
            result["alias"] = client.get_alias(email)
        return result
    changes = changed_fields(current, wanted)
    if changes:
        result["changed"] = True
        result["diff"] = {"before": {k: current.get(k) for k in changes}, "after": changes}
        if not module.check_mode:
            client.update_alias(email, **changes)
            current = client.get_alias(email)
    result["alias"] = current
    return result


def main() -> None:
    argument_spec = {
        **CONNECTION_OPTIONS,
        "email": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "destination": {"type": "list", "elements": "str"},
        "comment": {"type": "str"},
        "wildcard": {"type": "bool"},
    }
    run_module(argument_spec, run)


if __name__ == "__main__":
    main()
