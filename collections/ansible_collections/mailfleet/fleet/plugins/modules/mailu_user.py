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
  - Every Mailu user field is an option (the names and types of Mailu's C(/user) model); options
    left unset are left alone.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.mailu
  - mailfleet.fleet.mailu.object
options:
  email: {description: The mailbox address., type: str, required: true}
  password: {description: Password; required to create a mailbox. Never returned., type: str}
  update_password:
    description: C(on_create) sets it only when the mailbox is created; C(always) sets it every run.
    type: str
    choices: [on_create, always]
    default: on_create
  comment:
    description: Free text shown on Mailu's Users page.
    type: str
  quota_bytes:
    description: Mailbox quota in bytes.
    type: int
  global_admin:
    description: Make the user a global administrator.
    type: bool
  enabled:
    description: Whether the user may log in and receive mail.
    type: bool
  change_pw_next_login:
    description: Force a password change at the next login.
    type: bool
  enable_imap:
    description: Allow IMAP.
    type: bool
  enable_pop:
    description: Allow POP3.
    type: bool
  allow_spoofing:
    description: Allow sending as any address.
    type: bool
  forward_enabled:
    description: Forward incoming mail (needs O(forward_destination)).
    type: bool
  forward_destination:
    description: Addresses to forward to.
    type: list
    elements: str
  forward_keep:
    description: Keep a copy of forwarded mail.
    type: bool
  reply_enabled:
    description: Send automatic replies.
    type: bool
  reply_subject:
    description: Subject of the automatic reply.
    type: str
  reply_body:
    description: Body of the automatic reply.
    type: str
  reply_startdate:
    description: First day of automatic replies (YYYY-MM-DD).
    type: str
  reply_enddate:
    description: Last day of automatic replies (YYYY-MM-DD).
    type: str
  displayed_name:
    description: Display name.
    type: str
  spam_enabled:
    description: Enable the spam filter.
    type: bool
  spam_mark_as_read:
    description: Mark spam as read.
    type: bool
  spam_threshold:
    description: Spam filter tolerance (0-100).
    type: int
"""

EXAMPLES = r"""
- name: Mailbox with a 2 GB quota
  mailfleet.fleet.mailu_user:
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
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import (  # noqa: E402
    changed_fields,
    ensure_present,
)
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import (  # noqa: E402
    run_object_module,
    user_field_options,
)

from mailfleet.mailu.client import MailuClient  # noqa: E402
from mailfleet.validation import ValidationError, normalize_email  # noqa: E402

FIELD_OPTIONS = user_field_options()


def present(module: AnsibleModule, client: MailuClient, email: str, current: dict | None) -> dict:
    params = module.params
    wanted = {k: params[k] for k in FIELD_OPTIONS}
    password = params["password"]
    if current is None and not password:
        raise ValidationError(f"mailbox {email} does not exist: a password is required to create it")
    fields = {k: v for k, v in wanted.items() if v is not None}
    changes = changed_fields(current or {}, wanted)
    if params["update_password"] == "always" and password:  # noqa: S105 - an option value
        changes["raw_password"] = password  # cannot be compared: Mailu only keeps a hash
    return ensure_present(
        module, "user", current,
        create=lambda: client.create_user(email, password, **fields),
        changes=changes,
        update=lambda changes: client.update_user(email, **changes),
        get=lambda: client.get_user(email),
        hidden=["raw_password"],
    )


def main() -> None:
    options = {
        **FIELD_OPTIONS,
        "password": {"type": "str", "no_log": True},
        "update_password": {"type": "str", "choices": ["on_create", "always"], "default": "on_create"},
    }
    run_object_module(
        "email", normalize_email, MailuClient.get_user, MailuClient.delete_user, options, present
    )


if __name__ == "__main__":
    main()
