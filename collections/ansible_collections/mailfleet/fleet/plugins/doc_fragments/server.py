"""Options of every module acting on a server at any provider (mailfleet.fleet.server)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  provider:
    description: The provider the server is at.
    type: str
    required: true
    choices: [hostwinds, digitalocean]
  api_key:
    description: The provider's key or token; defaults to env E(HOSTWINDS_API_KEY) or E(DIGITALOCEAN_TOKEN).
    type: str
  api_url:
    description: >-
      The API's address; defaults to env E(HOSTWINDS_API_URL) or E(DIGITALOCEAN_API_URL), then the
      real API.
    type: str
  name:
    description: "The server's label, C(mf-<tenant>-<n>)."
    type: str
    required: true
  poll_interval:
    description: Seconds between status checks while waiting.
    type: float
    default: 10
"""
