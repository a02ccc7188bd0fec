"""Options of every hostwinds_* module (mailfleet.fleet.hostwinds) and of those acting on one instance
(mailfleet.fleet.hostwinds.target)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_key:
    description: Hostwinds API key; defaults to env E(HOSTWINDS_API_KEY).
    type: str
  api_url:
    description: API endpoint; defaults to env E(HOSTWINDS_API_URL), then the real API.
    type: str
  api_timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 30
  poll_interval:
    description: Seconds between status checks while waiting.
    type: float
    default: 10
notes:
  - The instance's root password and configkey are never returned.
"""

    TARGET = r"""
options:
  name:
    description: The instance's unique label (srvrname).
    type: str
    aliases: [srvrname]
  serviceid:
    description: The instance's id (instead of O(name)).
    type: int
"""
