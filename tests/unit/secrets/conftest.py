from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailfleet.secrets import SecretStore, get_store
from mailfleet.secrets.local import LocalStore
from mailfleet.secrets.vault import VaultStore
from testbed.doubles.vault import VaultState, serve


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a local store under tmp_path; also set in os.environ for code reading it."""
    env = {
        "MAILFLEET_SECRETS_BACKEND": "local",
        "MAILFLEET_SECRETS_FILE": str(tmp_path / "secrets" / "store.enc"),
        "MAILFLEET_MASTER_KEY_FILE": str(tmp_path / "secrets" / "master.key"),
    }
    monkeypatch.delenv("MAILFLEET_MASTER_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def local_store(local_env: dict[str, str]) -> LocalStore:
    store = get_store(local_env)
    assert isinstance(store, LocalStore)
    return store


@pytest.fixture
def vault_double() -> Iterator[tuple[str, VaultState]]:
    """The Vault double on 127.0.0.1 (werkzeug make_server in a thread): (address, state)."""
    state = VaultState()
    with serve(state) as addr:
        yield addr, state


@pytest.fixture
def vault_env(vault_double: tuple[str, VaultState], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    addr, state = vault_double
    for name in ("VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return {"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": addr, "VAULT_TOKEN": state.root_token}


@pytest.fixture
def vault_store(vault_env: dict[str, str]) -> VaultStore:
    store = get_store(vault_env)
    assert isinstance(store, VaultStore)
    return store


@pytest.fixture(params=["local", "vault"])
def any_store(request: pytest.FixtureRequest) -> SecretStore:
    """Each backend in turn, for behaviour both must share."""
    return request.getfixturevalue(f"{request.param}_store")
