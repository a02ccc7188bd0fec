#!/usr/bin/python
"""Ansible module: the relay domains a Mailu server holds for other servers (mailfleet.mailu)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailu_relays
short_description: Bring a Mailu server's managed relay domains in line with a list
description:
  - Creates or updates (PATCH) each listed relay domain through Mailu's admin REST API
    (C(/api/v1/relay)) and deletes the relays it manages (comment starting with O(comment)) that are
    not listed. Relays someone else made are left alone.
  - A secondary MX holds a relay for each domain whose mail it queues; its C(smtp) is the domain
    server's mail host name, which Mailu renders as the Postfix transport C(smtp:[host]) (delivery to
    that host, no MX lookup that could find the secondary itself). Any other form is refused.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.mailu
options:
  relays:
    description: The relays wanted, each with C(name) (the domain) and C(smtp) (the mail host to deliver to).
    type: list
    elements: dict
    required: true
  comment:
    description: Comment of the relays this module manages; their comment starts with it.
    type: str
    default: mailfleet secondary MX
"""

EXAMPLES = r"""
- name: Queue shop.acme.example's mail for its own server while that is down
  mailfleet.fleet.mailu_relays:
    api_url: https://mail.acme-eu.example/api/v1
    api_token: "{{ mailu_api_token }}"
    relays:
      - {name: shop.acme.example, smtp: mail.acme.example}
  delegate_to: localhost
"""

RETURN = r"""
created: {description: Relay domains created., type: list, elements: str, returned: always}
updated:
  description: Relay domains whose smtp or comment changed.
  type: list
  elements: str
  returned: always
removed:
  description: Managed relay domains deleted (no longer listed).
  type: list
  elements: str
  returned: always
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import run_module  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import (  # noqa: E402
    API_OPTIONS,
    client_from_params,
)

from mailfleet.mailu.relays import plan_relays, secondary_relay  # noqa: E402
from mailfleet.validation import ValidationError, normalize_domain  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    wanted = {}
    for item in params["relays"]:
        if not isinstance(item, dict) or not item.get("name") or not item.get("smtp"):
            raise ValidationError(f"each relay needs a name and an smtp host, got {item!r}")
        relay = secondary_relay(normalize_domain(str(item["name"])), str(item["smtp"]))
        wanted[relay["name"]] = relay
    client = client_from_params(params)
    plan = plan_relays(client.list_relays(), wanted, params["comment"])
    if not module.check_mode:
        for name in plan.create:
            client.create_relay(name, smtp=wanted[name]["smtp"], comment=plan.comment_of(name))
        for name in plan.update:
            client.update_relay(name, smtp=wanted[name]["smtp"], comment=plan.comment_of(name))
        for name in plan.remove:
            client.delete_relay(name)
    return {"changed": bool(plan.create or plan.update or plan.remove),
            "created": plan.create, "updated": plan.update, "removed": plan.remove}


def main() -> None:
    run_module(
        {
            **API_OPTIONS,
            "relays": {"type": "list", "elements": "dict", "required": True},
            "comment": {"type": "str", "default": "mailfleet secondary MX"},
        },
        run,
    )


if __name__ == "__main__":
    main()
