"""The outside clients (secrets store, Mailu, Hostwinds), built from the app's config.

Tests replace a client by putting a factory in the config (``SECRET_STORE``,
``MAILU_CLIENT_FACTORY``, ``HOSTWINDS_CLIENT``); everyone else gets the real one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from mailfleet.hostwinds import HostwindsClient
from mailfleet.mailu import MailuClient
from mailfleet.secrets import HOSTWINDS_PATH, SecretStore, get_store, tenant_path
from mailfleet.secrets.paths import MAILU, SSH_KEY


def secret_store(app: Flask | None = None) -> SecretStore:
    app = app or current_app
    store = app.config.get("SECRET_STORE")
    return store if store is not None else get_store()


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


def hostwinds_client(app: Flask | None = None) -> Any:
    app = app or current_app
    client = app.config.get("HOSTWINDS_CLIENT")
    if client is not None:
        return client
    import os

    key = os.environ.get("HOSTWINDS_API_KEY") or secret_store(app).get_field(HOSTWINDS_PATH, "api_key")
    url = app.config.get("HOSTWINDS_API_URL")
    return HostwindsClient(key, url) if url else HostwindsClient(key)
