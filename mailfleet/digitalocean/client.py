"""`DigitalOceanClient`: the one client for the DigitalOcean API v2 (see contract.py).

- JSON over HTTPS with a bearer token; every list followed through all its pages;
- errors raised as typed exceptions carrying the API's id, message and request id;
- the rate-limit headers of the last answer kept in `rate`;
- bounded retries with exponential backoff (or the API's Retry-After) for 429 on any request, and
  for timeouts and 5xx only on reads and deletes; a create or an action is never resent after its
  answer was lost, since DigitalOcean would carry it out twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Unpack

import requests

from mailfleet.apiclient import ApiClient, ApiOptions, Retry, never_sent
from mailfleet.digitalocean import contract as c
from mailfleet.digitalocean.errors import (
    ConfigurationError,
    DigitalOceanError,
    DropletExistsError,
    NotAuthorizedError,
    NotFoundError,
    RateLimitedError,
    TimeoutWaitingError,
    TransportError,
    UnprocessableError,
)

Droplet = dict[str, Any]
_RETRY_SAFE = {"GET", "DELETE"}


class DigitalOceanClient(ApiClient):
    """Client for one DigitalOcean account (one API token)."""

    service = "DigitalOcean"
    configuration_error = ConfigurationError
    log = logging.getLogger("mailfleet.digitalocean")

    default_max_backoff = 30.0
    default_poll_interval = 5.0

    def __init__(self, token: str, api_url: str = c.DEFAULT_API_URL, **options: Unpack[ApiOptions]) -> None:
        self._token = self.checked_credential(
            token,
            "No DigitalOcean API token given: set DIGITALOCEAN_TOKEN or store it as the secret "
            "global/digitalocean (field api_token).",
            "The DigitalOcean token contains spaces or control characters; copy it again from the "
            "control panel (API > Tokens).",
        )
        super().__init__(api_url, **options)
        self.api_url = api_url.rstrip("/")
        #: The rate-limit headers of the last answer (ratelimit-limit, -remaining, -reset).
        self.rate: dict[str, str] = {}

    # --- low level -------------------------------------------------------------------------
    def request(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                params: dict[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON (None for 204), or a DigitalOceanError."""
        return self._retrying(f"{method} {path}", lambda: self._attempt(method, path, body, params))

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None,
                 params: dict[str, Any] | None) -> Any:
        try:
            response = self._session.request(
                method, self.api_url + path, json=body, params=params, timeout=self.timeout,
                allow_redirects=False,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            )
        except requests.RequestException as exc:
            if not never_sent(exc) and method not in _RETRY_SAFE:
                raise TransportError(
                    f"DigitalOcean {method} {path}: {type(exc).__name__}; the request may have been carried "
                    "out, so it was not repeated. Check the droplets before running again.") from None
            raise Retry(type(exc).__name__) from None
        self.rate = {h: response.headers[h] for h in c.RATE_HEADERS if h in response.headers}
        if response.status_code == 429:
            raise Retry("HTTP 429 (rate limited)", wait=_retry_after(response), final=_error(
                response, RateLimitedError, "DigitalOcean's rate limit is reached "
                f"(resets at {self.rate.get('ratelimit-reset', '?')}); try again later"))
        if response.status_code >= 500:
            if method not in _RETRY_SAFE:
                raise _error(response, TransportError, f"DigitalOcean {method} {path} failed with "
                             f"HTTP {response.status_code}; it was not repeated")
            raise Retry(f"HTTP {response.status_code}")
        return _decoded(response, method, path)

    def _gave_up(self, what: str, last: str) -> Exception:
        return TransportError(f"DigitalOcean API at {self.api_url} gave no usable answer to {what} "
                              f"after {self.attempts} attempts (last: {last}).")

    def paged(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list, following links.pages.next to the last page."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.request("GET", path, params={**(params or {}), "page": page, "per_page": c.PER_PAGE})
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise DigitalOceanError(f"GET {path} answered without a {key!r} list.")
            items.extend(data[key])
            if not ((data.get("links") or {}).get("pages") or {}).get("next"):
                return items
            page += 1

    # --- reads -----------------------------------------------------------------------------
    def droplets(self) -> list[Droplet]:
        return self.paged("/v2/droplets", "droplets")

    def droplet(self, droplet_id: int) -> Droplet:
        return self.request("GET", f"/v2/droplets/{_id(droplet_id)}")["droplet"]

    def find_droplet(self, label: str) -> Droplet | None:
        """The droplet carrying mailfleet's label (its tag, else its name); two is an error."""
        found = [d for d in self.droplets() if label_of(d) == label]
        if len(found) > 1:
            ids = ", ".join(str(d["id"]) for d in found)
            raise DigitalOceanError(f"{len(found)} droplets carry the label {label!r} (ids {ids}); mailfleet "
                                    "needs it unique. Destroy or retag the extra ones.")
        return found[0] if found else None

    def regions(self) -> list[dict[str, Any]]:
        return self.paged("/v2/regions", "regions")

    def sizes(self) -> list[dict[str, Any]]:
        return self.paged("/v2/sizes", "sizes")

    def action(self, action_id: int) -> dict[str, Any]:
        return self.request("GET", f"/v2/actions/{_id(action_id)}")["action"]

    # --- changes ---------------------------------------------------------------------------
    def add_ssh_key(self, name: str, public_key: str) -> int:
        """The id of the account key holding `public_key` (added when missing)."""
        wanted = " ".join(public_key.split()[:2])
        for key in self.paged("/v2/account/keys", "ssh_keys"):
            if " ".join(str(key.get("public_key", "")).split()[:2]) == wanted:
                return int(key["id"])
        return int(self.request("POST", "/v2/account/keys",
                                body={"name": name, "public_key": public_key})["ssh_key"]["id"])

    def create_droplet(self, label: str, *, region: str, size: str, image: str,
                       ssh_keys: Iterable[int] = (), name: str | None = None) -> Droplet:
        """Create a droplet tagged with `label` (refused when one carries it already); sent once."""
        existing = self.find_droplet(label)
        if existing is not None:
            raise DropletExistsError(f"A droplet labelled {label!r} exists already (id {existing['id']}); "
                                     "not creating a second one.")
        body = {"name": name or label, "region": region, "size": size, "image": image,
                "ssh_keys": [int(k) for k in ssh_keys], "ipv6": True, "tags": [c.LABEL_TAG_PREFIX + label]}
        return self.request("POST", "/v2/droplets", body=body)["droplet"]

    def delete_droplet(self, droplet_id: int) -> None:
        self.request("DELETE", f"/v2/droplets/{_id(droplet_id)}")

    def droplet_action(self, droplet_id: int, kind: str, **fields: Any) -> dict[str, Any]:
        return self.request("POST", f"/v2/droplets/{_id(droplet_id)}/actions",
                            body={"type": kind, **fields})["action"]

    def run_action(self, droplet_id: int, kind: str, *, timeout: float = c.BUILD_TIMEOUT_S,
                   **fields: Any) -> dict[str, Any]:
        """Start an action and wait until it completed; errored or a timeout raise."""
        started = self.droplet_action(droplet_id, kind, **fields)
        for action in self._polled(lambda: self.action(int(started["id"])), timeout, first=started):
            if action.get("status") == c.ACTION_DONE:
                return action
            if action.get("status") == c.ACTION_FAILED:
                raise DigitalOceanError(
                    f"The {kind} action {action.get('id')} of droplet {droplet_id} errored.")
        raise TimeoutWaitingError(f"The {kind} action of droplet {droplet_id} is still "
                                  f"{action.get('status')} after {timeout:.0f} s.")

    def wait_for_status(self, droplet_id: int, status: str, *, timeout: float = c.BUILD_TIMEOUT_S) -> Droplet:
        for droplet in self._polled(lambda: self.droplet(droplet_id), timeout):
            if droplet.get("status") == status:
                return droplet
        raise TimeoutWaitingError(f"Droplet {droplet_id} is still {droplet.get('status')} after "
                                  f"{timeout:.0f} s (waiting for {status}). Run again later.")


def label_of(droplet: Droplet) -> str | None:
    """mailfleet's label of a droplet: its `mailfleet:` tag, else its name."""
    for tag in droplet.get("tags") or ():
        if str(tag).startswith(c.LABEL_TAG_PREFIX):
            return str(tag)[len(c.LABEL_TAG_PREFIX):]
    return droplet.get("name")


def _id(value: int | str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number <= 0 or isinstance(value, bool):
        raise ConfigurationError(f"{value!r} is not a DigitalOcean id (a positive whole number); "
                                 "nothing was sent.")
    return number


def _retry_after(response: requests.Response) -> float | None:
    """The seconds the API asked to wait (None: not said, or not a number)."""
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _error(response: requests.Response, kind: type[DigitalOceanError], what: str) -> DigitalOceanError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or response.reason or ""
    request_id = body.get("request_id")
    suffix = f" (request id {request_id})" if request_id else ""
    return kind(f"{what}: {message}{suffix}", status=response.status_code, error_id=body.get("id"),
                request_id=request_id)


_BY_STATUS: dict[int, tuple[type[DigitalOceanError], str]] = {
    401: (NotAuthorizedError, "DigitalOcean refused the token (wrong, expired or revoked: make a new one "
                              "under API > Tokens)"),
    403: (NotAuthorizedError, "The DigitalOcean token lacks the scope for this (give it read and write)"),
    404: (NotFoundError, "DigitalOcean has no such resource"),
    422: (UnprocessableError, "DigitalOcean refused the request"),
}


def _decoded(response: requests.Response, method: str, path: str) -> Any:
    status = response.status_code
    if status in _BY_STATUS:
        kind, what = _BY_STATUS[status]
        raise _error(response, kind, what)
    if status >= 400 or status in (301, 302, 307, 308):
        raise _error(response, ConfigurationError,
                     f"{method} {path} answered HTTP {status}; is api_url right?")
    if status == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise TransportError(f"DigitalOcean {method} {path} answered HTTP {status} without JSON.") from None
