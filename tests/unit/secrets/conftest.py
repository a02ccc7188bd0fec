from __future__ import annotations

from pathlib import Path

import pytest

from mailfleet.secrets import get_store
from mailfleet.secrets.local import LocalStore


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
