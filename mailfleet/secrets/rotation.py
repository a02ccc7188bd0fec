"""Two-step rotation of a tenant's SSH key, so a half-done rotation never locks anyone out.

1. `stage_ssh_key`: a new key pair is stored at `tenants/<t>/ssh_key_next` (kept if it exists, so
   a failed run resumes with the same key).
2. The playbook deploys the staged public key, logs in with it, removes the old one.
3. `promote_ssh_key`: the staged pair becomes the next version of `tenants/<t>/ssh_key`
   (check-and-set) and the staged path is deleted.

Until step 3, `ssh_key` still holds the key that works on every host.
"""

from __future__ import annotations

import functools

from .base import SecretStore
from .errors import SecretNotFound
from .generators import ssh_key_pair
from .paths import SSH_KEY, tenant_path

SSH_KEY_NEXT = "ssh_key_next"


def stage_ssh_key(tenant: str, store: SecretStore) -> bool:
    """Generate the next key pair unless one is staged already. True if this call created it."""
    generator = functools.partial(ssh_key_pair, comment=f"mailfleet-{tenant}")
    return store.create_if_missing(tenant_path(tenant, SSH_KEY_NEXT), generator)


def promote_ssh_key(tenant: str, store: SecretStore) -> int:
    """Make the staged key the tenant's key; return its version. SecretNotFound if none is staged."""
    next_path, key_path = tenant_path(tenant, SSH_KEY_NEXT), tenant_path(tenant, SSH_KEY)
    try:
        staged = store.read(next_path)
    except SecretNotFound:
        raise SecretNotFound(
            f"no staged SSH key for tenant {tenant!r} ({next_path}); stage one first"
        ) from None
    try:
        current = store.read(key_path)
        current_data, cas = current.data, current.version
    except SecretNotFound:
        current_data, cas = {}, 0
    # a run that stopped after the put but before the delete is finished, not rotated twice
    version = cas if current_data == staged.data else store.put(key_path, staged.data, cas=cas)
    store.delete(next_path)
    return version
