"""Two-step SSH key rotation and the `python -m mailfleet.secrets` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailfleet.secrets import InvalidSecretPath, SecretNotFound, SecretStore, ensure_tenant_secrets
from mailfleet.secrets.cli import main
from mailfleet.secrets.rotation import promote, stage
from mailfleet.secrets.tenant import generator_for_path

pytestmark = pytest.mark.unit


def test_stage_is_kept_and_promote_makes_it_current(any_store: SecretStore) -> None:
    ensure_tenant_secrets("acme", any_store)
    old = any_store.get("tenants/acme/ssh_key")
    assert stage("acme", "ssh_key", any_store) is True
    staged = any_store.get("tenants/acme/ssh_key_next")
    assert stage("acme", "ssh_key", any_store) is False  # a resumed run keeps the same staged key
    assert any_store.get("tenants/acme/ssh_key_next") == staged
    assert any_store.get("tenants/acme/ssh_key") == old  # nothing changes before promotion
    assert promote("acme", "ssh_key", any_store) == 2
    assert any_store.get("tenants/acme/ssh_key") == staged
    assert any_store.get("tenants/acme/ssh_key", version=1) == old
    assert any_store.list("tenants/acme") == [
        "tenants/acme/acme_account",
        "tenants/acme/mailu",
        "tenants/acme/restic",
        "tenants/acme/ssh_key",
    ]
    with pytest.raises(SecretNotFound, match="nothing staged at tenants/acme/ssh_key_next"):
        promote("acme", "ssh_key", any_store)


def test_mailu_token_rotation_keeps_the_other_fields(any_store: SecretStore) -> None:
    ensure_tenant_secrets("acme", any_store)
    old = any_store.get("tenants/acme/mailu")
    assert stage("acme", "mailu", any_store) is True
    staged = any_store.get("tenants/acme/mailu_next")
    assert set(staged) == {"api_token"}
    assert promote("acme", "mailu", any_store) == 2
    assert any_store.get("tenants/acme/mailu") == {**old, "api_token": staged["api_token"]}
    assert staged["api_token"] != old["api_token"]


def test_only_known_kinds_rotate_in_two_steps(any_store: SecretStore) -> None:
    with pytest.raises(InvalidSecretPath, match="cannot be rotated in two steps"):
        stage("acme", "restic", any_store)
    with pytest.raises(InvalidSecretPath):
        stage("acme/x", "mailu", any_store)


def test_generated_ssh_key_is_usable_by_openssh(any_store: SecretStore, tmp_path: Path) -> None:
    ensure_tenant_secrets("acme", any_store)
    key = any_store.get("tenants/acme/ssh_key")
    path = tmp_path / "id"
    path.write_text(key["private_key"])
    path.chmod(0o600)
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True
    )
    assert derived.stdout.split()[:2] == key["public_key"].split()[:2]
    assert key["public_key"].startswith("ssh-ed25519 ")


def test_cli_prints_json_and_never_values(
    local_store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ensure-tenant", "acme"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True and len(result["created"]) == 4
    secret = local_store.get_field("tenants/acme/mailu", "api_token")
    assert main(["rotate", "tenants/acme/mailu", "mailu_api_token"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"changed": True, "path": "tenants/acme/mailu", "version": 2}
    new = local_store.get_field("tenants/acme/mailu", "api_token")
    assert new != secret and new not in out and secret not in out
    assert main(["versions", "tenants/acme/mailu"]) == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)["versions"]] == [1, 2]


def test_cli_errors_go_to_stderr_with_exit_2(
    local_store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["delete", "tenants/acme/mailu"]) == 2
    assert "no secret at 'tenants/acme/mailu'" in capsys.readouterr().err
    assert main(["rotate", "tenants/acme/mailu", "nonsense"]) == 2
    assert "unknown generator 'nonsense'" in capsys.readouterr().err


def test_module_entry_point(local_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailfleet.secrets", "list", ""],
        capture_output=True,
        text=True,
        env=local_env,
        check=False,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == {"paths": [], "prefix": ""}


def test_generate_by_name_labels_a_tenant_ssh_key(any_store: SecretStore) -> None:
    any_store.create_if_missing("tenants/acme/ssh_key", generator_for_path("ssh_key", "tenants/acme/ssh_key"))
    assert any_store.get_field("tenants/acme/ssh_key", "public_key").endswith(" mailfleet-acme")
    assert generator_for_path("ssh_key", "global/deploy_key")()["public_key"].endswith(" mailfleet")
    assert set(generator_for_path("restic", "tenants/acme/restic")()) == {"password"}
