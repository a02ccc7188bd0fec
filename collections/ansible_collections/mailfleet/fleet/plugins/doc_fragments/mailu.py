"""Options of every mailu_* module: where Mailu's admin API is and how to reach it."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description: API root, for example C(https://mail.example.com/api/v1).
    type: str
    required: true
  api_token:
    description: Mailu's C(API_TOKEN).
    type: str
    required: true
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify against.
    type: path
  timeout:
    description: Read timeout in seconds for each request.
    type: float
    default: 30
notes:
  - A wrong token fails at once and is never retried (Mailu rate-limits the IP after a few).
"""

    # The modules that manage one kind of Mailu object (module_utils/mailu.run_object_module).
    OBJECT = r"""
options:
  state:
    description: Whether the object exists (C(absent) deletes it).
    type: str
    choices: [present, absent]
    default: present
"""
