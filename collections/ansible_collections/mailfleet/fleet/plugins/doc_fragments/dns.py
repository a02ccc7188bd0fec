"""Options of the modules that publish ownership units (mailfleet.fleet.dns)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  take_over:
    description:
      - Delete the conflicting foreign records instead of failing (the DNS doctor's Fix), where
        deleting them is enough, and foreign addresses beside the wanted ones; data beside a
        wanted CNAME still fails.
    type: bool
    default: false
"""
