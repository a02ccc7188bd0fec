"""Create a tenant's secrets: called once when a tenant is created, safe to call again."""

from __future__ import annotations

import functools

from .base import SecretStore
from .config import get_store
from .generators import FieldGenerator, acme_account_key, mailu_secrets, restic_secrets, ssh_key_pair
from .paths import ACME_ACCOUNT, MAILU, RESTIC, SSH_KEY, tenant_path, validate_tenant


def tenant_generators(tenant: str) -> dict[str, FieldGenerator]:
    """Secret name -> generator for one tenant (the SSH key's comment names the tenant)."""
    return {
        SSH_KEY: functools.partial(ssh_key_pair, comment=f"mailfleet-{tenant}"),
        MAILU: mailu_secrets,
        RESTIC: restic_secrets,
        ACME_ACCOUNT: acme_account_key,
    }


def ensure_tenant_secrets(tenant: str, store: SecretStore | None = None) -> list[str]:
    """Generate every missing per-tenant secret; return the paths created (existing ones untouched)."""
    validate_tenant(tenant)
    if store is None:
        store = get_store()
    created = []
    for kind, generator in tenant_generators(tenant).items():
        path = tenant_path(tenant, kind)
        if store.create_if_missing(path, generator):
            created.append(path)
    return created
