"""A provider's interface built from its name, key and address (the Ansible modules' way in; the
control plane builds the same adapters in webapp.integrations, where tests can swap the client)."""

from __future__ import annotations

from mailfleet.providers.base import Provider
from mailfleet.settings import Settings
from mailfleet.validation import ValidationError

#: Each provider's default image for a new server (Debian 12).
DEFAULT_IMAGES = {"hostwinds": "debian-12", "digitalocean": "debian-12-x64"}


def provider_from(name: str, key: str | None = None, api_url: str | None = None, *,
                  timeout: float = 30.0, poll_interval: float = 10.0) -> Provider:
    """The provider `name` with `key` (else its setting) at `api_url` (else its setting or the real API)."""
    settings = Settings()
    if name == "hostwinds":
        from mailfleet.hostwinds import DEFAULT_API_URL, HostwindsClient  # noqa: PLC0415 - per provider
        from mailfleet.providers.hostwinds import HostwindsProvider  # noqa: PLC0415

        return HostwindsProvider(HostwindsClient(
            key or settings["HOSTWINDS_API_KEY"] or "",
            api_url or settings["HOSTWINDS_API_URL"] or DEFAULT_API_URL,
            timeout=(5.0, timeout), poll_interval=poll_interval))
    if name == "digitalocean":
        from mailfleet.digitalocean import DEFAULT_API_URL as DO_URL  # noqa: PLC0415
        from mailfleet.digitalocean import DigitalOceanClient  # noqa: PLC0415
        from mailfleet.providers.digitalocean import DigitalOceanProvider  # noqa: PLC0415

        return DigitalOceanProvider(DigitalOceanClient(
            key or settings["DIGITALOCEAN_TOKEN"] or "",
            api_url or settings["DIGITALOCEAN_API_URL"] or DO_URL,
            timeout=(5.0, timeout), poll_interval=poll_interval))
    raise ValidationError(f"unknown provider {name!r}; known: {', '.join(DEFAULT_IMAGES)}")
