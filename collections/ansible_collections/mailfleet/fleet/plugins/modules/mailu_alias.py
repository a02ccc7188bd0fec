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
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.mailu
  - mailfleet.fleet.mailu.object
options:
  email: {description: The alias address., type: str, required: true}
  destination: {description: Local mailboxes it delivers to (required to create)., type: list, elements: str}
  comment: {description: Free text., type: str}
  wildcard: {description: SQL LIKE wildcard syntax in the local part., type: bool}
"""

EXAMPLES = r"""
- name: postmaster@ delivers to the admin
  mailfleet.fleet.mailu_alias:
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
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import (  # noqa: E402
    changed_fields,
    ensure_present,
)
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import run_object_module  # noqa: E402

from mailfleet.mailu.client import MailuClient  # noqa: E402
from mailfleet.validation import ValidationError, normalize_email  # noqa: E402


def present(module: AnsibleModule, client: MailuClient, email: str, current: dict | None) -> dict:
    params = module.params
    destination = None
    if params["destination"] is not None:
        destination = sorted({normalize_email(d) for d in params["destination"]})
    wanted = {"destination": destination, "comment": params["comment"], "wildcard": params["wildcard"]}
    if current is None and not destination:
        raise ValidationError(f"alias {email} does not exist: destination is required to create it")
    extra = {k: v for k, v in wanted.items() if v is not None and k != "destination"}
    return ensure_present(
        module, "alias", current,
        create=lambda: client.create_alias(email, destination, **extra),
        changes=changed_fields(current or {}, wanted),
        update=lambda changes: client.update_alias(email, **changes),
        get=lambda: client.get_alias(email),
    )


def main() -> None:
    options = {
        "destination": {"type": "list", "elements": "str"},
        "comment": {"type": "str"},
        "wildcard": {"type": "bool"},
    }
    run_object_module(
        "email", normalize_email, MailuClient.get_alias, MailuClient.delete_alias, options, present
    )


if __name__ == "__main__":
    main()
