"""Choose and configure the backend from the environment, at call time (never at import).

    MAILFLEET_SECRETS_BACKEND   local (default) | vault
    local:  MAILFLEET_SECRETS_FILE      default /var/lib/mailfleet/secrets/store.enc
            MAILFLEET_MASTER_KEY        URL-safe base64 of 32 bytes (wins over the file)
            MAILFLEET_MASTER_KEY_FILE   default /var/lib/mailfleet/secrets/master.key
    vault:  see `mailfleet.secrets.vault.VaultSettings.from_env`
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .base import SecretStore
from .errors import SecretsConfigError
from .local import LocalStore
from .masterkey import MasterKeySource

DEFAULT_DIR = Path("/var/lib/mailfleet/secrets")
DEFAULT_STORE_FILE = DEFAULT_DIR / "store.enc"
DEFAULT_KEY_FILE = DEFAULT_DIR / "master.key"
BACKENDS = ("local", "vault")


def local_store_from_env(env: Mapping[str, str]) -> LocalStore:
    store_file = Path(env.get("MAILFLEET_SECRETS_FILE") or DEFAULT_STORE_FILE)
    key_file = Path(env.get("MAILFLEET_MASTER_KEY_FILE") or DEFAULT_KEY_FILE)
    return LocalStore(store_file, MasterKeySource(file=key_file, env_value=env.get("MAILFLEET_MASTER_KEY")))


def get_store(env: Mapping[str, str] | None = None) -> SecretStore:
    """The store the configuration names. `env` defaults to os.environ, read now."""
    env = os.environ if env is None else env
    backend = (env.get("MAILFLEET_SECRETS_BACKEND") or "local").strip().lower()
    if backend == "local":
        return local_store_from_env(env)
    if backend == "vault":
        from .vault import vault_store_from_env  # hvac is imported only when Vault is used

        return vault_store_from_env(env)
    raise SecretsConfigError(
        f"MAILFLEET_SECRETS_BACKEND={backend!r} is not a backend; use one of: {', '.join(BACKENDS)}"
    )
