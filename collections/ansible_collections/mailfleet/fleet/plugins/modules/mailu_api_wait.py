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
  - Never changes anything. Runs on the controller (C(delegate_to: localhost)).
options:
  api_url: {description: API root, e.g. https://mail.example.com/api/v1., type: str, required: true}
  api_token: {description: Mailu's API_TOKEN., type: str, required: true}
  validate_certs: {description: Verify the server's TLS certificate., type: bool, default: true}
  ca_path: {description: CA bundle to verify against., type: path}
  timeout: {description: Read timeout in seconds for each request., type: float, default: 10}
  wait_timeout: {description: Seconds to wait in all., type: int, default: 300}
  delay: {description: Seconds between attempts., type: float, default: 3}
"""

EXAMPLES = r"""
- name: Wait for the admin API
  mailu_api_wait:
    api_url: https://mail.acme.example/api/v1
    api_token: "{{ mailu_api_token }}"
  delegate_to: localhost
"""

RETURN = r"""
elapsed: {description: Seconds waited., type: float, returned: success}
attempts: {description: Requests made., type: int, returned: always}
"""

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

# Runs on the controller (delegate_to: localhost) where the mailfleet package is installed.
from mailfleet.mailu import MailuError, MailuServerError, MailuUnavailableError  # noqa: E402
from mailfleet.mailu.ansible_support import CONNECTION_OPTIONS, client_from_params  # noqa: E402


def main() -> None:
    argument_spec = {
        **CONNECTION_OPTIONS,
        "timeout": {"type": "float", "default": 10.0},
        "wait_timeout": {"type": "int", "default": 300},
        "delay": {"type": "float", "default": 3.0},
    }
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    started = time.monotonic()
    attempts = 0
    try:
        client = client_from_params(params)
        client.retries = 0  # this loop is the retry
        while True:
            attempts += 1
            try:
                client.check_auth()
                break
            except (MailuUnavailableError, MailuServerError) as exc:
                if time.monotonic() - started + params["delay"] > params["wait_timeout"]:
                    module.fail_json(msg=f"Mailu API not ready after {params['wait_timeout']} s: {exc}",
                                     attempts=attempts)
                time.sleep(params["delay"])
    except MailuError as exc:
        module.fail_json(msg=str(exc), status=exc.status, attempts=attempts)
    module.exit_json(changed=False, elapsed=round(time.monotonic() - started, 2), attempts=attempts)


if __name__ == "__main__":
    main()
