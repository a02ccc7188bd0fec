"""A run's local store: only its tenant's and the needed global secrets, under a key of its own;
its writes come back to the real store after the run, a concurrent change wins over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailfleet.secrets import SecretsAccessDenied, SecretsConflict, get_store
from mailfleet.secrets.local import LocalStore
from mailfleet.secrets.scope import RunScope

pytestmark = pytest.mark.unit


@pytest.fixture
def seeded(local_store: LocalStore) -> LocalStore:
    local_store.put("tenants/acme/mailu", {"api_token": "acme-token"})
    local_store.put("tenants/globex/mailu", {"api_token": "globex-token"})
    local_store.put("global/hostwinds", {"api_key": "hw"})
    local_store.put("global/monitoring", {"webhook_secret": "not for runs"})
    return local_store


def test_a_run_store_holds_only_its_scope_and_brings_writes_back(
    seeded: LocalStore, local_env: dict[str, str], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run" / "secrets"
    with seeded.run_credentials(RunScope("acme"), run_dir, ttl=60) as env:
        assert sorted(env) == [
            "MAILFLEET_MASTER_KEY_FILE", "MAILFLEET_SECRETS_BACKEND", "MAILFLEET_SECRETS_FILE"
        ]
        run_key = Path(env["MAILFLEET_MASTER_KEY_FILE"])
        assert run_key.read_text() != Path(local_env["MAILFLEET_MASTER_KEY_FILE"]).read_text()
        assert oct(run_key.stat().st_mode & 0o777) == "0o600"
        run = get_store(env)
        assert run.list("") == ["global/hostwinds", "tenants/acme/mailu"]
        run.put("tenants/acme/mailu", {"api_token": "rotated"})
        run.put("tenants/acme/restic", {"password": "new"})
        with pytest.raises(SecretsAccessDenied):
            run.put("tenants/globex/planted", {"password": "x"})
        with pytest.raises(SecretsAccessDenied):
            run.put("global/hostwinds", {"api_key": "mine now"})
    assert list(run_dir.iterdir()) == []
    assert seeded.get("tenants/acme/mailu") == {"api_token": "rotated"}
    assert [v.version for v in seeded.versions("tenants/acme/mailu")] == [1, 2]
    assert seeded.get("tenants/acme/restic") == {"password": "new"}
    assert not seeded.exists("tenants/globex/planted")
    assert seeded.get_field("global/hostwinds", "api_key") == "hw"


def test_a_path_changed_during_the_run_keeps_the_stores_version(seeded: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(SecretsConflict, match="tenants/acme/mailu"):  # noqa: SIM117 - the exit raises
        with seeded.run_credentials(RunScope("acme"), tmp_path / "run", ttl=60) as env:
            get_store(env).put("tenants/acme/mailu", {"api_token": "from the run"})
            get_store(env).put("tenants/acme/restic", {"password": "from the run"})
            seeded.put("tenants/acme/mailu", {"api_token": "from the web app"})
    assert seeded.get_field("tenants/acme/mailu", "api_token") == "from the web app"
    assert seeded.get_field("tenants/acme/restic", "password") == "from the run"
    assert list((tmp_path / "run").iterdir()) == []
