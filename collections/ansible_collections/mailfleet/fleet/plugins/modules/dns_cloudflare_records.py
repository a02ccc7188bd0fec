#!/usr/bin/python
"""Ansible module: bring owned records to the wanted state on Cloudflare (API v4)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_cloudflare_records
short_description: Publish ownership units through the Cloudflare API, never proxied
description:
  - Same ownership rules as the RFC 2136 path (manifest at C(_mailfleet.<owner>), foreign
    records kept, conflicts fail before any change); records are created, deleted or patched
    one by one through mailfleet.cloudflare (the official SDK underneath).
options:
  api_token:
    description: Cloudflare API token (Zone.DNS edit, Zone read).
    type: str
    required: true
    no_log: true
  api_base_url:
    description: API base URL (a double in tests).
    type: str
    default: "https://api.cloudflare.com/client/v4"
  units: {description: Units from M(dns_mail_records)., type: list, elements: dict, required: true}
  timeout: {description: Seconds per API call., type: float, default: 30}
author: mailfleet
"""

RETURN = r"""
changes: {description: One line per change made., type: list, returned: always}
present: {description: Records that must be served afterwards., type: list, returned: always}
absent: {description: Records that must be gone afterwards., type: list, returned: always}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

try:
    from mailfleet.cloudflare import CloudflareClient, CloudflareError
    from mailfleet.dns import DnsError, Record
    from mailfleet.dns.cloudflare_provider import sync_unit
except ImportError as exc:  # pragma: no cover
    IMPORT_ERROR: Exception | None = exc
else:
    IMPORT_ERROR = None


def _as_dicts(records: list) -> list[dict]:
    return [{"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl} for r in records]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "api_token": {"type": "str", "required": True, "no_log": True},
            "api_base_url": {"type": "str", "default": "https://api.cloudflare.com/client/v4"},
            "units": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "float", "default": 30.0},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR is not None:
        module.fail_json(msg=f"mailfleet is not importable (run on the controller): {IMPORT_ERROR}")
    p = module.params
    changes, present, absent, planned = [], [], [], False
    try:
        client = CloudflareClient(p["api_token"], base_url=p["api_base_url"], timeout=p["timeout"])
        # Validate every unit before the first call, so bad input changes nothing.
        units = [
            (u["manifest"], [Record.make(r["name"], r["type"], r["value"], int(r.get("ttl", 600)))
                             for r in u.get("records") or []])
            for u in p["units"]
        ]
        for manifest, wanted in units:
            plan, done = sync_unit(client, Record.make(manifest, "TXT", "x").name, wanted,
                                   check_mode=module.check_mode)
            planned = planned or bool(plan.add or plan.remove or plan.retime)
            changes += done
            present += [*plan.present, *plan.manifest_after]
            absent += plan.remove
    except (DnsError, CloudflareError) as exc:
        module.fail_json(msg=str(exc), changes=changes)
    changed = bool(changes) or (module.check_mode and planned)
    module.exit_json(changed=changed, changes=changes, present=_as_dicts(present), absent=_as_dicts(absent))


if __name__ == "__main__":
    main()
