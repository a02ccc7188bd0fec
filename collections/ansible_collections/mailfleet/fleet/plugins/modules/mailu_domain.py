#!/usr/bin/python
"""Ansible module: a mail domain on a Mailu server, through the admin API (mailfleet.mailu)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailu_domain
short_description: Manage a mail domain (and its DKIM key) on a Mailu server
description:
  - Creates, updates or deletes a domain through Mailu's admin REST API (C(/api/v1/domain)) and makes
    sure it has a DKIM key. Returns the ready zone lines Mailu renders (C(dns_mx), C(dns_spf),
    C(dns_dkim), C(dns_dmarc), C(dns_dmarc_report), C(dns_autoconfig), C(dns_tlsa)) for the dns role.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.mailu
  - mailfleet.fleet.mailu.object
options:
  name: {description: Domain name (Unicode or IDNA)., type: str, required: true}
  comment: {description: Free text., type: str}
  max_users: {description: Mailbox limit (-1 unlimited)., type: int}
  max_aliases: {description: Alias limit (-1 unlimited)., type: int}
  max_quota_bytes: {description: Largest quota a mailbox may get (0 unlimited)., type: int}
  signup_enabled: {description: Allow self sign-up., type: bool}
  alternatives:
    description: Alternative domain names; when given, exactly this set (extra ones are deleted).
    type: list
    elements: str
  dkim: {description: Generate a DKIM key when the domain has none., type: bool, default: true}
"""

EXAMPLES = r"""
- name: Mail domain with a DKIM key
  mailfleet.fleet.mailu_domain:
    api_url: https://mail.acme.example/api/v1
    api_token: "{{ mailu_api_token }}"
    name: acme.example
    max_users: 50
  delegate_to: localhost
  register: domain
"""

RETURN = r"""
domain:
  description: The domain as Mailu reports it (empty in check mode before creation).
  type: dict
  returned: state=present
dns:
  description: The zone lines of C(GET /domain/{name}).
  type: dict
  returned: state=present
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import changed_fields, diff  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import run_object_module  # noqa: E402

from mailfleet.mailu import DNS_RECORD_FIELDS  # noqa: E402
from mailfleet.mailu.client import MailuClient  # noqa: E402
from mailfleet.validation import normalize_domain  # noqa: E402

SCALARS = ("comment", "max_users", "max_aliases", "max_quota_bytes", "signup_enabled")


def present(module: AnsibleModule, client: MailuClient, name: str, current: dict | None) -> dict:
    params = module.params
    result: dict = {"changed": False}

    wanted = {k: params[k] for k in SCALARS}
    alternatives = None
    if params["alternatives"] is not None:
        alternatives = sorted({normalize_domain(a) for a in params["alternatives"]})
    if current is None:
        result["changed"] = True
        if module.check_mode:
            return {**result, "domain": {}, "dns": {}}
        fields = {k: v for k, v in wanted.items() if v is not None}
        if alternatives:
            fields["alternatives"] = alternatives
        client.create_domain(name, **fields)
    else:
        changes = changed_fields(current, wanted)
        add, remove = [], []
        if alternatives is not None:
            have = set(current.get("alternatives") or [])
            add = [a for a in alternatives if a not in have]
            remove = sorted(have - set(alternatives))
        if changes or add or remove:
            result["changed"] = True
            result["diff"] = diff(current, changes) if changes else {}
            if not module.check_mode:
                if changes or add:
                    client.update_domain(name, **changes, **({"alternatives": add} if add else {}))
                for alt in remove:
                    client.delete_alternative(alt)
    if params["dkim"] and not (current or {}).get("dns_dkim"):
        result["changed"] = True
        if not module.check_mode:
            client.generate_dkim(name)
    domain = current if module.check_mode else client.get_domain(name)
    result["domain"] = domain
    result["dns"] = {key: domain.get(key) for key in DNS_RECORD_FIELDS}
    return result


def main() -> None:
    options = {
        "comment": {"type": "str"},
        "max_users": {"type": "int"},
        "max_aliases": {"type": "int"},
        "max_quota_bytes": {"type": "int"},
        "signup_enabled": {"type": "bool"},
        "alternatives": {"type": "list", "elements": "str"},
        "dkim": {"type": "bool", "default": True},
    }
    run_object_module(
        "name", normalize_domain, MailuClient.get_domain, MailuClient.delete_domain, options, present
    )


if __name__ == "__main__":
    main()
