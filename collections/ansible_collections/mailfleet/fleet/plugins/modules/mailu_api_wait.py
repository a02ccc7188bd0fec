#!/usr/bin/python
"""Ansible module: wait until a Mailu admin API answers, failing at once on a wrong token."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mailu_api_wait
short_description: Wait for Mailu's admin API to answer an authenticated request
description:
  - Polls C(GET /api/v1/domain) until it answers 200. Connection errors, timeouts and 5xx (the admin
    container starting) are waited on up to I(wait_timeout); 401/403 (wrong token) and 429 (IP locked
    out) fail at once and are not repeated, since each wrong token feeds Mailu's rate limiter.
  - Never changes anything.
author: mailfleet (!UNKNOWN)
extends_documentation_fragment:
  - mailfleet.fleet.controller
  - mailfleet.fleet.mailu
options:
  timeout: {default: 10}
  wait_timeout: {description: Seconds to wait in all., type: int, default: 300}
  delay: {description: Seconds between attempts., type: float, default: 3}
"""

EXAMPLES = r"""
- name: Wait for the admin API
  mailfleet.fleet.mailu_api_wait:
    api_url: https://mail.acme.example/api/v1
    api_token: "{{ mailu_api_token }}"
  delegate_to: localhost
"""

RETURN = r"""
elapsed: {description: Seconds waited., type: float, returned: success}
attempts: {description: Requests made., type: int, returned: always}
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.base import ModuleFailure, run_module  # noqa: E402
from ansible_collections.mailfleet.fleet.plugins.module_utils.mailu import (  # noqa: E402
    API_OPTIONS,
    client_from_params,
)

from mailfleet.mailu import MailuError, MailuServerError, MailuUnavailableError  # noqa: E402


def run(module: AnsibleModule) -> dict[str, Any]:
    params = module.params
    started = time.monotonic()
    attempts = 0
    client = client_from_params(params)
    client.retries = 0  # this loop is the retry
    try:
        while True:
            attempts += 1
            try:
                client.check_auth()
                break
            except (MailuUnavailableError, MailuServerError) as exc:
                if time.monotonic() - started + params["delay"] > params["wait_timeout"]:
                    raise ModuleFailure(exc, f"Mailu API not ready after {params['wait_timeout']} s: {exc}",
                                        attempts=attempts) from None
                time.sleep(params["delay"])
    except MailuError as exc:
        raise ModuleFailure(exc, attempts=attempts) from None
    return {"changed": False, "elapsed": round(time.monotonic() - started, 2), "attempts": attempts}


def main() -> None:
    run_module(
        {
            **API_OPTIONS,
            "timeout": {"type": "float", "default": 10.0},
            "wait_timeout": {"type": "int", "default": 300},
            "delay": {"type": "float", "default": 3.0},
        },
        run,
    )


if __name__ == "__main__":
    main()
