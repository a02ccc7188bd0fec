"""Two-step rotation, so a half-done rotation never locks anyone out.

1. `stage(tenant, kind)`: the new fields are stored at `tenants/<t>/<kind>_next` (kept if already
   there, so a failed run resumes with the same new value).
2. A playbook deploys the staged value and checks that it works (SSH login, Mailu API call).
3. `promote(tenant, kind)`: the staged fields replace those of `tenants/<t>/<kind>` in a new
   version (check-and-set; other fields kept) and the staged path is deleted.

Until step 3, `tenants/<t>/<kind>` still holds the value that works everywhere.

    ssh_key   stages a new key pair {private_key, public_key}   (playbooks/rotate_ssh_key.yml)
    mailu     stages a new {api_token}; SECRET_KEY and the admin password stay (rotate_mailu_token.yml)
"""

from __future__ import annotations

import functools

from .base import SecretStore
from .errors import InvalidSecretPath, SecretNotFound
from .generators import FieldGenerator, mailu_api_token, ssh_key_pair
from .paths import MAILU, SSH_KEY, tenant_path, validate_tenant

STAGED_SUFFIX = "_next"


def staged_generators(tenant: str) -> dict[str, FieldGenerator]:
    return {
        SSH_KEY: functools.partial(ssh_key_pair, comment=f"mailfleet-{tenant}"),
        MAILU: mailu_api_token,
    }


def _paths(tenant: str, kind: str) -> tuple[str, str, FieldGenerator]:
    validate_tenant(tenant)
    generators = staged_generators(tenant)
    if kind not in generators:
        known = ", ".join(generators)
        raise InvalidSecretPath(f"{kind!r} cannot be rotated in two steps; use one of: {known}")
    return tenant_path(tenant, kind), tenant_path(tenant, kind + STAGED_SUFFIX), generators[kind]


def stage(tenant: str, kind: str, store: SecretStore) -> bool:
    """Generate the staged value unless one exists. True if this call created it."""
    _, staged_path, generator = _paths(tenant, kind)
    return store.create_if_missing(staged_path, generator)


def promote(tenant: str, kind: str, store: SecretStore) -> int:
    """Merge the staged fields into the live secret as a new version; return that version."""
    live_path, staged_path, _ = _paths(tenant, kind)
    try:
        staged = store.read(staged_path)
    except SecretNotFound:
        raise SecretNotFound(f"nothing staged at {staged_path}; stage it first") from None
    try:
        current = store.read(live_path)
        current_data, cas = current.data, current.version
    except SecretNotFound:
        current_data, cas = {}, 0
    merged = {**current_data, **staged.data}
    # a run that stopped after the put but before the delete is finished, not rotated twice
    version = cas if merged == current_data else store.put(live_path, merged, cas=cas)
    store.delete(staged_path)
    return version
