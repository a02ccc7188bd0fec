#!/usr/bin/python
"""Ansible module: a mailbox (user) on a Mailu server, through the admin API (mailfleet.mailu)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailu_user
short_description: Manage a mailbox on a Mailu server
description:
  - Creates, updates (PATCH) or deletes a user through Mailu's admin REST API (C(/api/v1/user)).
  - Mailu never returns passwords (only a hash, which this module drops), so a password is set on
    creation and changed only with I(update_password=always).
  - Any of Mailu's user fields (C(quota_bytes), C(enabled), C(global_admin), C(displayed_name),
    C(comment), C(enable_imap), C(enable_pop), C(allow_spoofing), C(forward_enabled),
    C(forward_destination), C(forward_keep), C(reply_*), C(spam_*), C(change_pw_next_login)) is an
    option; unset options are left alone.
  - Runs on the controller (C(delegate_to: localhost)); supports check mode.
options:
  api_url: {description: API root, e.g. https://mail.example.com/api/v1., type: str, required: true}
  api_token: {description: Mailu's API_TOKEN., type: str, required: true}
  validate_certs: {description: Verify the server's TLS certificate., type: bool, default: true}
  ca_path: {description: CA bundle to verify against., type: path}
  timeout: {description: Read timeout in seconds for each request., type: float, default: 30}
  email: {description: The mailbox address., type: str, required: true}
  state: {description: present or absent., type: str, choices: [present, absent], default: present}
  password: {description: Password; required to create a mailbox. Never returned., type: str}
  update_password:
    description: C(on_create) sets it only when the mailbox is created; C(always) sets it every run.
    type: str
    choices: [on_create, always]
    default: on_create
"""

EXAMPLES = r"""
- name: Mailbox with a 2 GB quota
  mailu_user:
    api_url: https://mail.acme.example/api/v1
    api_token: "{{ mailu_api_token }}"
    email: jane@acme.example
    password: "{{ jane_password }}"
    quota_bytes: 2000000000
    displayed_name: Jane
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
user:
  description: The mailbox as Mailu reports it, without the password hash.
  type: dict
  returned: state=present
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
    user_field_options,
)
from mailfleet.validation import normalize_email  # noqa: E402

FIELD_OPTIONS = user_field_options()


def run(module: AnsibleModule) -> dict:
    params = module.params
    email = normalize_email(params["email"])
    client = client_from_params(params)
    current = current_or_none(client.get_user, email)
    if params["state"] == "absent":
        return ensure_absent(current, client.delete_user, email, module.check_mode)
    result: dict = {"changed": False}

    wanted = {k: params[k] for k in FIELD_OPTIONS}
    password = params["password"]
    if current is None:
        if not password:
            module.fail_json(msg=f"mailbox {email} does not exist: a password is required to create it")
        result["changed"] = True
        if not module.check_mode:
            client.create_user(email, password, **{k: v for k, v in wanted.items() if v is not None})
            result["user"] = client.get_user(email)
        return result
    changes = changed_fields(current, wanted)
    if params["update_password"] == "always" and password:  # noqa: S105 - an option value
        changes["raw_password"] = password  # cannot be compared: Mailu only keeps a hash
    if changes:
        result["changed"] = True
        shown = sorted(k for k in changes if k != "raw_password")
        result["diff"] = {"before": {k: current.get(k) for k in shown},
                          "after": {k: changes[k] for k in shown}}
        if not module.check_mode:
            client.update_user(email, **changes)
            current = client.get_user(email)
    result["user"] = current
    return result


def main() -> None:
    argument_spec = {
        **CONNECTION_OPTIONS,
        **FIELD_OPTIONS,
        "email": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "password": {"type": "str", "no_log": True},
        "update_password": {"type": "str", "choices": ["on_create", "always"], "default": "on_create"},
    }
    run_module(argument_spec, run)


if __name__ == "__main__":
    main()
