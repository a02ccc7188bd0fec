"""What one tenant's Ansible run may read and write in the store, and the credentials it gets.

A run never holds the store's own credentials (the master key, the worker's Vault token). It gets
credentials that reach only its tenant's paths (read and write) and the global secrets a playbook
needs (read only), valid for that run alone:

    with run_credentials(store, "acme", private_dir / "secrets", ttl=3600) as env:
        ...  # ansible-playbook with `env` added to its environment

- Vault: a child token of the worker's, with a policy naming only those paths, revoked on exit.
- Local store: a small store file holding only those secrets, under a fresh key (not the master
  key); on exit what the run wrote under its tenant's paths is merged back into the real store
  (check-and-set against the versions it started from) and both files are deleted.

`env` names only files and settings (MAILFLEET_SECRETS_*, VAULT_ADDR, VAULT_TOKEN_FILE ...); the
credential itself is in a 0600 file inside `directory`.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from .base import SecretStore
from .paths import CLOUDFLARE_PATH, DIGITALOCEAN_PATH, DNS_TSIG_PATH, HOSTWINDS_PATH, tenant_prefix

#: The global secrets a tenant's run may read (provisioning, DNS updates); never write.
RUN_GLOBAL_PATHS = (HOSTWINDS_PATH, DIGITALOCEAN_PATH, CLOUDFLARE_PATH, DNS_TSIG_PATH)


@dataclass(frozen=True)
class RunScope:
    tenant: str

    @property
    def prefix(self) -> str:
        """The tenant's folder, e.g. tenants/acme (validated)."""
        return tenant_prefix(self.tenant)

    def writable(self, path: str) -> bool:
        return path.startswith(self.prefix + "/")

    def readable(self, path: str) -> bool:
        return self.writable(path) or path in RUN_GLOBAL_PATHS


def run_credentials(
    store: SecretStore, tenant: str, directory: Path, ttl: int
) -> AbstractContextManager[dict[str, str]]:
    """The environment (names only) that lets a run of `tenant` reach its part of `store` for at
    most `ttl` seconds."""
    return store.run_credentials(RunScope(tenant), directory, ttl)


def write_private(path: Path, text: str) -> None:
    """A new file only its owner can read (the directory is made 0700 if missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)

