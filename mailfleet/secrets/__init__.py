"""mailfleet's secrets store: one interface, two backends (local encrypted file, or Vault KV v2).

    from mailfleet.secrets import get_store
    store = get_store()                       # backend chosen by MAILFLEET_SECRETS_BACKEND, now
    store.put("tenants/acme/restic", {"password": "..."})
    store.get_field("tenants/acme/restic", "password")

See README.md next to this file for the backends, their settings and the path layout.
"""

from __future__ import annotations

from .base import SecretStore, SecretVersion, VersionInfo
from .config import get_store
from .errors import (
    InvalidSecretData,
    InvalidSecretPath,
    SecretNotFound,
    SecretsAccessDenied,
    SecretsBackendError,
    SecretsConfigError,
    SecretsConflict,
    SecretsError,
    SecretsKeyError,
    SecretsSealed,
    SecretsTampered,
)
from .generators import GENERATORS, generator_by_name
from .paths import CLOUDFLARE_PATH, HOSTWINDS_PATH, TENANT_SECRET_FIELDS, tenant_path, tenant_prefix
from .tenant import ensure_tenant_secrets

__all__ = [
    "CLOUDFLARE_PATH",
    "GENERATORS",
    "HOSTWINDS_PATH",
    "TENANT_SECRET_FIELDS",
    "InvalidSecretData",
    "InvalidSecretPath",
    "SecretNotFound",
    "SecretStore",
    "SecretVersion",
    "SecretsAccessDenied",
    "SecretsBackendError",
    "SecretsConfigError",
    "SecretsConflict",
    "SecretsError",
    "SecretsKeyError",
    "SecretsSealed",
    "SecretsTampered",
    "VersionInfo",
    "ensure_tenant_secrets",
    "generator_by_name",
    "get_store",
    "tenant_path",
    "tenant_prefix",
]
