"""Choose and configure the backend from the settings, at call time (never at import).

MAILFLEET_SECRETS_BACKEND is local (the default: MAILFLEET_SECRETS_FILE, MAILFLEET_MASTER_KEY or
MAILFLEET_MASTER_KEY_FILE) or vault (see `mailfleet.secrets.vault.VaultSettings.from_env`); all are
declared in mailfleet.settings.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..settings import Settings
from .base import SecretStore
from .errors import SecretsConfigError
from .local import LocalStore
from .masterkey import MasterKeySource

BACKENDS = ("local", "vault")


def local_store_from_env(env: Mapping[str, str] | None = None) -> LocalStore:
    settings = Settings(env, error=SecretsConfigError)
    key = MasterKeySource(
        file=settings["MAILFLEET_MASTER_KEY_FILE"], env_value=settings["MAILFLEET_MASTER_KEY"]
    )
    return LocalStore(settings["MAILFLEET_SECRETS_FILE"], key)


def get_store(env: Mapping[str, str] | None = None) -> SecretStore:
    """The store the configuration names. `env` defaults to os.environ, read now."""
    backend = Settings(env, error=SecretsConfigError)["MAILFLEET_SECRETS_BACKEND"].strip().lower()
    if backend == "local":
        return local_store_from_env(env)
    if backend == "vault":
        from .vault import vault_store_from_env  # hvac is imported only when Vault is used

        return vault_store_from_env(env)
    raise SecretsConfigError(
        f"MAILFLEET_SECRETS_BACKEND={backend!r} is not a backend; use one of: {', '.join(BACKENDS)}"
    )
