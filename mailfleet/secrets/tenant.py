"""Create a tenant's secrets: called once when a tenant is created, safe to call again."""

from __future__ import annotations

import functools

from .base import SecretStore
from .config import get_store
from .generators import (
    FieldGenerator,
    acme_account_key,
    generator_by_name,
    mailu_secrets,
    restic_secrets,
    ssh_key_pair,
)
from .paths import ACME_ACCOUNT, MAILU, RESTIC, SSH_KEY, TENANTS, tenant_path, validate_path, validate_tenant


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


def generator_for_path(name: str, path: str) -> FieldGenerator:
    """The generator `name` (see GENERATORS) for `path`; an SSH key under tenants/<t>/ is labelled
    with its tenant, as ensure_tenant_secrets labels it (what the lookup's `generate=` uses)."""
    generator = generator_by_name(name)
    parts = validate_path(path).split("/")
    if name == SSH_KEY and len(parts) == 3 and parts[0] == TENANTS:
        return tenant_generators(parts[1])[SSH_KEY]
    return generator
