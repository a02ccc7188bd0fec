"""Behaviour both backends share, run against each: the team codes against this, not a backend."""

from __future__ import annotations

import logging

import pytest

from mailfleet.secrets import (
    InvalidSecretPath,
    SecretNotFound,
    SecretsConflict,
    SecretStore,
    ensure_tenant_secrets,
    tenant_path,
)

pytestmark = pytest.mark.unit

SECRET = "Very-Secret-Value-0123456789"


def test_round_trip(any_store: SecretStore) -> None:
    assert any_store.put("tenants/acme/mailu", {"api_token": SECRET, "secret_key": "k"}) == 1
    assert any_store.get("tenants/acme/mailu") == {"api_token": SECRET, "secret_key": "k"}
    assert any_store.get_field("tenants/acme/mailu", "api_token") == SECRET


def test_versions_and_reading_an_old_one(any_store: SecretStore) -> None:
    any_store.put("global/cloudflare", {"api_token": "one"})
    any_store.put("global/cloudflare", {"api_token": "two"})
    assert [v.version for v in any_store.versions("global/cloudflare")] == [1, 2]
    assert any_store.get_field("global/cloudflare", "api_token", version=1) == "one"
    assert any_store.read("global/cloudflare").version == 2


def test_rotation_keeps_other_fields_and_the_old_version(any_store: SecretStore) -> None:
    any_store.put("tenants/acme/mailu", {"secret_key": "k", "api_token": "old", "admin_password": "p"})
    new = any_store.rotate("tenants/acme/mailu", lambda: {"api_token": "new"})
    assert new == {"secret_key": "k", "api_token": "new", "admin_password": "p"}
    assert any_store.get("tenants/acme/mailu") == new
    assert any_store.get_field("tenants/acme/mailu", "api_token", version=1) == "old"


def test_check_and_set_conflict(any_store: SecretStore) -> None:
    any_store.put("global/hostwinds", {"api_key": "a"}, cas=0)
    with pytest.raises(SecretsConflict):
        any_store.put("global/hostwinds", {"api_key": "b"}, cas=0)
    assert any_store.get_field("global/hostwinds", "api_key") == "a"


def test_list_delete_and_not_found(any_store: SecretStore) -> None:
    for path in ("tenants/acme/mailu", "tenants/acme/restic", "tenants/acme2/mailu", "global/hostwinds"):
        any_store.put(path, {"x": "y"})
    assert any_store.list("tenants/acme") == ["tenants/acme/mailu", "tenants/acme/restic"]
    assert any_store.list("") == sorted(
        ["tenants/acme/mailu", "tenants/acme/restic", "tenants/acme2/mailu", "global/hostwinds"]
    )
    assert any_store.list("tenants/nobody") == []
    any_store.delete("tenants/acme/mailu")
    assert any_store.list("tenants/acme") == ["tenants/acme/restic"]
    with pytest.raises(SecretNotFound):
        any_store.get("tenants/acme/mailu")
    with pytest.raises(SecretNotFound):
        any_store.versions("tenants/acme/mailu")
    with pytest.raises(SecretNotFound):
        any_store.delete("tenants/acme/mailu")


def test_path_validation_before_any_backend_call(any_store: SecretStore) -> None:
    with pytest.raises(InvalidSecretPath):
        any_store.get("tenants/../global/hostwinds")
    with pytest.raises(InvalidSecretPath):
        tenant_path("acme/evil", "mailu")
    with pytest.raises(InvalidSecretPath):
        tenant_path("acme\n", "mailu")


def test_ensure_tenant_secrets_creates_what_is_missing_once(any_store: SecretStore) -> None:
    any_store.put("tenants/acme/restic", {"password": SECRET})
    created = ensure_tenant_secrets("acme", any_store)
    assert sorted(created) == ["tenants/acme/acme_account", "tenants/acme/mailu", "tenants/acme/ssh_key"]
    assert any_store.get_field("tenants/acme/restic", "password") == SECRET  # untouched
    assert ensure_tenant_secrets("acme", any_store) == []
    assert set(any_store.get("tenants/acme/mailu")) == {"secret_key", "api_token", "admin_password"}
    assert set(any_store.get("tenants/acme/ssh_key")) == {"private_key", "public_key"}
    assert any_store.get_field("tenants/acme/ssh_key", "public_key").endswith(" mailfleet-acme")


def test_no_secret_in_logs(any_store: SecretStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    any_store.put("tenants/acme/mailu", {"api_token": SECRET})
    any_store.get("tenants/acme/mailu")
    any_store.rotate("tenants/acme/mailu", lambda: {"api_token": SECRET[::-1]})
    ensure_tenant_secrets("acme", any_store)
    assert "tenants/acme/mailu" in caplog.text
    assert SECRET not in caplog.text and SECRET[::-1] not in caplog.text
    assert SECRET not in repr(any_store)
