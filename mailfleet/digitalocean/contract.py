"""What mailfleet relies on in the DigitalOcean API v2 (the double imports this too).

- Base URL https://api.digitalocean.com, JSON bodies, `Authorization: Bearer <token>`.
- Errors are JSON `{"id": "<slug>", "message": "...", "request_id": "..."}` with the HTTP status:
  401 `unauthorized` (bad or revoked token), 403 `forbidden` (token without the scope),
  404 `not_found`, 422 `unprocessable_entity` (bad field, a locked droplet, a size the region does
  not sell, resizing a droplet that is not off), 429 `too_many_requests` (with `Retry-After` for
  the burst limit), 5xx `server_error`.
- Every answer carries `ratelimit-limit` (5000 an hour), `ratelimit-remaining` and
  `ratelimit-reset` (Unix time when the oldest request expires).
- Lists are paged: `?page=N&per_page=M` (default 20, at most 200); the answer has
  `links.pages.next` (absent on the last page) and `meta.total`.
- A droplet: `id` (int), `name`, `status` (new, active, off, archive), `locked`, `memory` (MB),
  `vcpus`, `disk` (GB), `size_slug`, `size` (with `price_monthly`, a JSON number), `region`
  (`slug`, `name`), `networks.v4`/`v6` (`ip_address`, `type` public or private), `tags`.
- `POST /v2/droplets` answers 202 with `{"droplet": {...status new}, "links": {"actions": [...]}}`.
  Names need not be unique: nothing stops a second droplet with the same name, so mailfleet
  looks the label up first and tags its droplets (`LABEL_TAG_PREFIX`).
- `DELETE /v2/droplets/{id}` answers 204 with no body.
- `POST /v2/droplets/{id}/actions` with `{"type": ...}` answers 201 `{"action": {id, status
  in-progress, type, ...}}`; the action's status moves to completed or errored
  (`GET /v2/actions/{id}`). A droplet with an action in progress is `locked` and refuses another
  action with 422. `resize` (`size`, `disk`) needs the droplet off (`power_off` first).
- Reverse DNS has no endpoint: DigitalOcean publishes a PTR for a droplet's addresses when the
  droplet's name is a fully qualified domain name, so setting the PTR is a `rename` action.
- `GET /v2/regions` (`slug`, `name`, `available`, `sizes`) and `GET /v2/sizes` (`slug`, `memory`,
  `vcpus`, `disk`, `transfer` in TB, `price_monthly`, `regions`, `available`).
- `POST /v2/account/keys` `{"name", "public_key"}` answers 201 `{"ssh_key": {"id", "fingerprint",
  ...}}`; a key already on the account is a 422.
- Reserved IPs (`POST /v2/reserved_ips {"droplet_id"}`) are not used: outgoing mail leaves from
  the droplet's own address, which a reserved IP does not change.
"""

from __future__ import annotations

from typing import Final

from mailfleet.regions import Region

DEFAULT_API_URL: Final = "https://api.digitalocean.com"
PER_PAGE: Final = 200
#: mailfleet's label (mf-<tenant>-<n>) is kept as a tag, since the name becomes the mail host name
#: (the PTR). Tags allow letters, digits, colons, dashes and underscores.
LABEL_TAG_PREFIX: Final = "mailfleet:"
RATE_HEADERS: Final = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")

STATUS_NEW: Final = "new"
STATUS_ACTIVE: Final = "active"
STATUS_OFF: Final = "off"
STATUS_ARCHIVE: Final = "archive"
ACTION_DONE: Final = "completed"
ACTION_FAILED: Final = "errored"

#: Region slugs by mailfleet region (New York, San Francisco; Amsterdam, Frankfurt, London;
#: Singapore, Bangalore). Toronto and Sydney are in none of mailfleet's regions.
LOCATION_REGIONS: Final = {
    "nyc1": Region.US, "nyc3": Region.US, "sfo2": Region.US, "sfo3": Region.US,
    "ams3": Region.EU, "fra1": Region.EU, "lon1": Region.EU,
    "sgp1": Region.ASIA, "blr1": Region.ASIA,
}

#: How long a new droplet may take to become active, and how often to look.
BUILD_TIMEOUT_S: Final = 1800.0

#: Why a droplet cannot move to a new sending address: its public IPv4 is its own for life, and a
#: reserved IP carries outbound traffic only when the host routes it through the reserved IP's
#: anchor gateway, which mailfleet does not set up.
MAIN_IP_FIXED: Final = (
    "DigitalOcean keeps a droplet's public IPv4 for the droplet's life, and a reserved IP sends mail "
    "only when the host routes its traffic out through it, which mailfleet does not set up: to send "
    "from a new address, replace the server (recovery)"
)
