"""The outside clients (secrets store, Mailu, the VPS providers, alert channels), built from the app's config.

Tests replace a client by putting a factory in the config (``SECRET_STORE``,
``MAILU_CLIENT_FACTORY``, ``HOSTWINDS_CLIENT``, ``DIGITALOCEAN_CLIENT``, ``DNS_ZONE_CHECKER``);
everyone else gets the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from mailfleet.digitalocean import DigitalOceanClient
from mailfleet.hostwinds import HostwindsClient
from mailfleet.mailu import MailuClient
from mailfleet.monitoring import NotificationRouter, notification_router
from mailfleet.providers import DEFAULT_PROVIDER, Provider
from mailfleet.providers.digitalocean import DigitalOceanProvider
from mailfleet.providers.hostwinds import HostwindsProvider
from mailfleet.secrets import CLOUDFLARE_PATH, HOSTWINDS_PATH, SecretStore, get_store, tenant_path
from mailfleet.secrets.paths import DIGITALOCEAN_PATH, DNS_TSIG_PATH, MAILU, SSH_KEY
from mailfleet.settings import Settings


def secret_store(app: Flask | None = None) -> SecretStore:
    app = app or current_app
    store = app.config.get("SECRET_STORE")
    return store if store is not None else get_store()


def alert_router(app: Flask | None = None) -> NotificationRouter:
    """The alert channels the settings name; the webhook secret may come from the store."""
    app = app or current_app
    return notification_router(secrets=lambda: secret_store(app))


def tenant_ssh_private_key(tenant_slug: str, app: Flask | None = None) -> str:
    return secret_store(app).get_field(tenant_path(tenant_slug, SSH_KEY), "private_key")


def mailu_client(tenant_slug: str, server_name: str, app: Flask | None = None) -> Any:
    """A MailuClient for the tenant's server (the tenant's own API token, from the store)."""
    app = app or current_app
    factory = app.config.get("MAILU_CLIENT_FACTORY")
    url = app.config["MAILFLEET_MAILU_URL"].format(host=server_name)
    token = secret_store(app).get_field(tenant_path(tenant_slug, MAILU), "api_token")
    if factory is not None:
        return factory(url, token)
    return MailuClient(url, token, verify=app.config["MAILFLEET_MAILU_VERIFY"])


def _api_client(app: Flask | None, name: str, setting: str, secret: tuple[str, str], make: Any) -> Any:
    """A provider's API client: the app's own (``<NAME>_CLIENT``, tests), else one made with the
    credential from ``setting`` or the secrets store's ``secret`` (path, field) and the app's
    ``<NAME>_API_URL`` if set."""
    app = app or current_app
    client = app.config.get(f"{name}_CLIENT")
    if client is not None:
        return client
    credential = Settings()[setting] or secret_store(app).get_field(*secret)
    url = app.config.get(f"{name}_API_URL")
    return make(credential, url) if url else make(credential)


def hostwinds_client(app: Flask | None = None) -> Any:
    return _api_client(app, "HOSTWINDS", "HOSTWINDS_API_KEY", (HOSTWINDS_PATH, "api_key"), HostwindsClient)


class UnknownProvider(ValueError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown provider {name!r}; this deployment orders at {', '.join(known)}")


def providers(app: Flask | None = None) -> tuple[str, ...]:
    """The providers this deployment uses (MAILFLEET_PROVIDERS), the default first."""
    return tuple((app or current_app).config.get("MAILFLEET_PROVIDERS") or ()) or (DEFAULT_PROVIDER,)


def provider_client(name: str | None = None, app: Flask | None = None) -> Provider:
    """The provider interface (mailfleet.providers) for one of the deployment's providers; the
    default one when no name is given. UnknownProvider for any other name."""
    app = app or current_app
    known = providers(app)
    name = name or known[0]
    if name not in known or name not in _PROVIDERS:
        raise UnknownProvider(name, known)
    adapter, client = _PROVIDERS[name]
    return adapter(client(app))


def provider_label(name: str) -> str:
    """How the pages name a provider ("Hostwinds" for "hostwinds"); a name mailfleet has no adapter
    for (a server seen under a provider since removed) as it is stored."""
    return _PROVIDERS[name][0].label if name in _PROVIDERS else name


def digitalocean_client(app: Flask | None = None) -> Any:
    return _api_client(app, "DIGITALOCEAN", "DIGITALOCEAN_TOKEN", (DIGITALOCEAN_PATH, "api_token"),
                       DigitalOceanClient)


#: Each provider's adapter (mailfleet.providers) and the builder of the API client it wraps.
_PROVIDERS: dict[str, tuple[Any, Callable[[Flask], Any]]] = {
    "hostwinds": (HostwindsProvider, hostwinds_client),
    "digitalocean": (DigitalOceanProvider, digitalocean_client),
}


def site_vars(app: Flask | None = None) -> dict[str, Any] | None:
    """The site variables file every run gets (MAILFLEET_SITE_VARS_FILE), None when there is none."""
    site_file = (app or current_app).config.get("MAILFLEET_SITE_VARS_FILE")
    if not site_file:
        return None
    import yaml

    with open(site_file, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def dns_zone_check(name: str, app: Flask | None = None) -> str | None:
    """The zone that will hold ``name``'s records, once the deployment's DNS provider confirmed it
    may be updated (ZoneNotWritable otherwise). None when no site variables file names a provider:
    then there is nothing to ask, and the runs themselves report the missing settings.

    The provider settings are the site file's ``dns_*`` variables, the ones every run gets; the key
    comes from the store (global/dns_tsig or global/cloudflare), as the runs read it.
    """
    app = app or current_app
    checker = app.config.get("DNS_ZONE_CHECKER")
    if checker is not None:
        return checker(name)
    site = site_vars(app)
    if site is None:
        return None
    from mailfleet.dns.zonecheck import cloudflare_zone, rfc2136_zone

    store = secret_store(app)
    if site.get("dns_provider", "rfc2136") == "cloudflare":
        token = store.get_field(CLOUDFLARE_PATH, "api_token")
        return cloudflare_zone(name, token, base_url=site.get("dns_cloudflare_api_base_url"))
    return rfc2136_zone(
        name,
        str(site.get("dns_rfc2136_server") or ""),
        key_name=str(site.get("dns_rfc2136_key_name") or ""),
        key_secret=store.get_field(DNS_TSIG_PATH, "secret"),
        key_algorithm=str(site.get("dns_rfc2136_key_algorithm") or "hmac-sha256"),
        port=int(site.get("dns_rfc2136_port") or 53),
    )
