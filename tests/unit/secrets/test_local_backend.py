"""Local encrypted backend: round trip, versions, rotation, modes, tampering, the key, concurrency."""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from mailfleet.secrets import (
    InvalidSecretData,
    InvalidSecretPath,
    SecretNotFound,
    SecretsConfigError,
    SecretsConflict,
    SecretsKeyError,
    SecretsTampered,
    get_store,
)
from mailfleet.secrets.local import LocalStore

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-VALUE-that-must-never-leak"


def test_round_trip_and_field(local_store: LocalStore) -> None:
    version = local_store.put("tenants/acme/restic", {"password": SECRET})
    assert version == 1
    assert local_store.get("tenants/acme/restic") == {"password": SECRET}
    assert local_store.get_field("tenants/acme/restic", "password") == SECRET


def test_value_is_not_in_the_file_in_clear(local_store: LocalStore) -> None:
    local_store.put("tenants/acme/restic", {"password": SECRET})
    blob = local_store.store_file.read_bytes()
    assert SECRET.encode() not in blob
    assert b"tenants/acme" not in blob  # paths are encrypted too


def test_a_second_store_object_reads_what_the_first_wrote(local_env: dict[str, str]) -> None:
    get_store(local_env).put("global/hostwinds", {"api_key": SECRET})
    assert get_store(local_env).get_field("global/hostwinds", "api_key") == SECRET


def test_versions_kept_and_readable(local_store: LocalStore) -> None:
    for n in range(1, 4):
        assert local_store.put("global/cloudflare", {"api_token": f"token-{n}"}) == n
    infos = local_store.versions("global/cloudflare")
    assert [info.version for info in infos] == [1, 2, 3]
    assert all(info.created_time.endswith("Z") for info in infos)
    assert local_store.get("global/cloudflare", version=1) == {"api_token": "token-1"}
    assert local_store.get("global/cloudflare") == {"api_token": "token-3"}
    with pytest.raises(SecretNotFound, match="no version 9"):
        local_store.get("global/cloudflare", version=9)


def test_only_the_newest_versions_are_kept(local_store: LocalStore) -> None:
    for n in range(12):
        local_store.put("global/cloudflare", {"api_token": f"t{n}"})
    assert [info.version for info in local_store.versions("global/cloudflare")] == list(range(3, 13))


def test_rotate_replaces_generated_fields_and_keeps_others(local_store: LocalStore) -> None:
    local_store.put("tenants/acme/mailu", {"secret_key": "k", "api_token": "old", "admin_password": "p"})
    new = local_store.rotate("tenants/acme/mailu", lambda: {"api_token": "new"})
    assert new == {"secret_key": "k", "api_token": "new", "admin_password": "p"}
    assert local_store.get("tenants/acme/mailu") == new
    assert local_store.get_field("tenants/acme/mailu", "api_token", version=1) == "old"


def test_rotate_of_a_missing_path_creates_it(local_store: LocalStore) -> None:
    assert local_store.rotate("tenants/acme/restic", lambda: {"password": "p"}) == {"password": "p"}
    assert [v.version for v in local_store.versions("tenants/acme/restic")] == [1]


def test_check_and_set(local_store: LocalStore) -> None:
    local_store.put("global/hostwinds", {"api_key": "a"}, cas=0)
    with pytest.raises(SecretsConflict, match="expected version 0"):
        local_store.put("global/hostwinds", {"api_key": "b"}, cas=0)
    local_store.put("global/hostwinds", {"api_key": "b"}, cas=1)
    assert local_store.get_field("global/hostwinds", "api_key") == "b"


def test_list_by_prefix(local_store: LocalStore) -> None:
    for path in ("tenants/acme/mailu", "tenants/acme/restic", "tenants/acme2/mailu", "global/hostwinds"):
        local_store.put(path, {"x": "y"})
    assert local_store.list("tenants/acme") == ["tenants/acme/mailu", "tenants/acme/restic"]
    assert local_store.list("tenants/acme/") == ["tenants/acme/mailu", "tenants/acme/restic"]
    assert len(local_store.list("")) == 4
    assert local_store.list("tenants/nobody") == []


def test_delete_removes_all_versions(local_store: LocalStore) -> None:
    local_store.put("tenants/acme/restic", {"password": "1"})
    local_store.put("tenants/acme/restic", {"password": "2"})
    local_store.delete("tenants/acme/restic")
    assert local_store.list("tenants/acme") == []
    with pytest.raises(SecretNotFound):
        local_store.get("tenants/acme/restic")
    with pytest.raises(SecretNotFound):
        local_store.delete("tenants/acme/restic")


def test_missing_secret_and_field(local_store: LocalStore) -> None:
    with pytest.raises(SecretNotFound, match="tenants/acme/mailu"):
        local_store.get("tenants/acme/mailu")
    local_store.put("tenants/acme/mailu", {"api_token": SECRET})
    with pytest.raises(SecretNotFound, match="no field 'secret_key'") as err:
        local_store.get_field("tenants/acme/mailu", "secret_key")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/tenants/a",
        "tenants/a/",
        "tenants/../global",
        "tenants/./x",
        "tenants//x",
        "Tenants/a",
        "tenants/a b/mailu",
        "tenants/a\n/mailu",
        "tenants/-a/mailu",
        "a/b/c/d/e/f/g/h/i",
        "x" * 64,
    ],
)
def test_bad_paths_refused_before_anything_is_written(local_store: LocalStore, path: str) -> None:
    with pytest.raises(InvalidSecretPath):
        local_store.put(path, {"x": "y"})
    assert not local_store.store_file.exists()


@pytest.mark.parametrize("data", [{}, {"bad-field": "x"}, {"n": 5}, ["x"]])
def test_bad_data_refused(local_store: LocalStore, data: object) -> None:
    with pytest.raises((InvalidSecretData, InvalidSecretPath)):
        local_store.put("global/hostwinds", data)  # type: ignore[arg-type]
    assert not local_store.store_file.exists()


def test_error_names_field_not_value(local_store: LocalStore) -> None:
    with pytest.raises(InvalidSecretData) as err:
        local_store.put("global/hostwinds", {"api_key": SECRET, "n": 5})  # type: ignore[dict-item]
    assert "'n'" in str(err.value) and SECRET not in str(err.value)


def test_modes_of_files_and_directory(local_store: LocalStore, tmp_path: Path) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    directory = tmp_path / "secrets"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("store.enc", "master.key", "store.enc.lock"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert sorted(p.name for p in directory.iterdir()) == ["master.key", "store.enc", "store.enc.lock"]


def test_reading_an_empty_store_creates_nothing(local_store: LocalStore, tmp_path: Path) -> None:
    assert local_store.list("") == []
    assert not (tmp_path / "secrets").exists()


@pytest.mark.parametrize("offset", [0, 6, 10, 20, 40, -1])
def test_any_flipped_byte_is_detected(local_store: LocalStore, offset: int) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    blob = bytearray(local_store.store_file.read_bytes())
    blob[offset] ^= 0x01
    local_store.store_file.write_bytes(bytes(blob))
    with pytest.raises((SecretsTampered, SecretsKeyError)) as err:
        local_store.get("global/hostwinds")
    assert str(local_store.store_file) in str(err.value)


def test_tampered_ciphertext_gives_tampered_error(local_store: LocalStore) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    blob = bytearray(local_store.store_file.read_bytes())
    blob[40] ^= 0xFF
    local_store.store_file.write_bytes(bytes(blob))
    with pytest.raises(SecretsTampered, match="failed authentication"):
        local_store.get("global/hostwinds")
    with pytest.raises(SecretsTampered):  # and nothing is written over it
        local_store.put("global/hostwinds", {"api_key": "x"})


def test_truncated_file_detected(local_store: LocalStore) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    local_store.store_file.write_bytes(local_store.store_file.read_bytes()[:20])
    with pytest.raises(SecretsTampered, match="truncated"):
        local_store.get("global/hostwinds")


def test_file_is_useless_with_another_key(local_env: dict[str, str], tmp_path: Path) -> None:
    get_store(local_env).put("global/hostwinds", {"api_key": SECRET})
    other = dict(local_env, MAILFLEET_MASTER_KEY_FILE=str(tmp_path / "other.key"))
    with pytest.raises(SecretsKeyError, match="does not exist, but the store does"):
        get_store(other).get("global/hostwinds")
    wrong = dict(local_env, MAILFLEET_MASTER_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode())
    with pytest.raises(SecretsKeyError, match="different master key"):
        get_store(wrong).get("global/hostwinds")
    assert not (tmp_path / "other.key").exists()  # never creates a new key next to an existing store


def test_key_from_environment(local_env: dict[str, str], tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = dict(local_env, MAILFLEET_MASTER_KEY=key)
    get_store(env).put("global/hostwinds", {"api_key": SECRET})
    assert not Path(local_env["MAILFLEET_MASTER_KEY_FILE"]).exists()
    assert get_store(env).get_field("global/hostwinds", "api_key") == SECRET


@pytest.mark.parametrize("bad", ["not base64!!", base64.urlsafe_b64encode(b"short").decode()])
def test_malformed_key_is_a_clear_error(local_env: dict[str, str], bad: str) -> None:
    with pytest.raises(SecretsKeyError, match="MAILFLEET_MASTER_KEY") as err:
        get_store(dict(local_env, MAILFLEET_MASTER_KEY=bad)).put("global/hostwinds", {"api_key": "x"})
    assert bad not in str(err.value)


def test_key_file_open_to_others_is_refused(local_store: LocalStore, local_env: dict[str, str]) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    os.chmod(local_env["MAILFLEET_MASTER_KEY_FILE"], 0o644)
    with pytest.raises(SecretsKeyError, match="chmod 600"):
        local_store.get("global/hostwinds")


def test_unknown_backend(local_env: dict[str, str]) -> None:
    with pytest.raises(SecretsConfigError, match="'plain'"):
        get_store(dict(local_env, MAILFLEET_SECRETS_BACKEND="plain"))


def test_backend_read_at_call_time(local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILFLEET_SECRETS_BACKEND", "nonsense")
    with pytest.raises(SecretsConfigError):
        get_store()
    monkeypatch.setenv("MAILFLEET_SECRETS_BACKEND", "local")
    assert isinstance(get_store(), LocalStore)


def test_repr_and_logs_carry_no_secret(local_store: LocalStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mailfleet.secrets")
    local_store.put("tenants/acme/mailu", {"api_token": SECRET})
    version = local_store.read("tenants/acme/mailu")
    local_store.rotate("tenants/acme/mailu", lambda: {"api_token": SECRET + "2"})
    assert SECRET not in repr(version) and SECRET not in repr(local_store)
    assert "tenants/acme/mailu" in caplog.text
    assert SECRET not in caplog.text


# A writer that loses this many check-and-set races in a row is stuck (the store is broken): it
# fails instead of spinning, so the test fails instead of hanging the suite.
MAX_RETRIES = 500


def _writer(env: dict[str, str], worker: int, count: int) -> None:
    store = get_store(env)
    for n in range(count):
        store.put(f"tenants/w{worker}/item{n}", {"value": f"{worker}-{n}"})
        for _attempt in range(MAX_RETRIES):  # a rotation that lost the race is retried, as callers do
            try:
                store.rotate("global/counter", lambda: {"n": "x"})
                break
            except SecretsConflict:
                continue
        else:
            raise SystemExit(f"worker {worker}: rotation still conflicting after {MAX_RETRIES} attempts")


def test_concurrent_writers_lose_no_update(local_env: dict[str, str]) -> None:
    count = 25
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(local_env, worker, count), daemon=True) for worker in range(2)]
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
        assert [proc.exitcode for proc in procs] == [0, 0]
    finally:
        for proc in procs:  # none left behind, whatever failed
            if proc.is_alive():
                proc.kill()
                proc.join()
    store = get_store(local_env)
    for worker in range(2):
        paths = store.list(f"tenants/w{worker}")
        assert len(paths) == count
    # every successful rotation of the shared path made exactly one version
    assert store.versions("global/counter")[-1].version == 2 * count


def test_every_write_encrypts_under_a_fresh_nonce(local_store: LocalStore) -> None:
    """AES-GCM with a repeated nonce leaks the XOR of two plaintexts and allows forgeries."""
    from mailfleet.secrets.envelope import HEADER_LEN, NONCE_LEN

    files = []
    for _ in range(20):  # the same content each time: only the nonce can tell the files apart
        local_store.put("global/hostwinds", {"api_key": SECRET})
        files.append(local_store.store_file.read_bytes())
        local_store.delete("global/hostwinds")
    nonces = {blob[HEADER_LEN : HEADER_LEN + NONCE_LEN] for blob in files}
    assert len(nonces) == len(files)


def test_reused_decryption_still_detects_tampering(local_store: LocalStore) -> None:
    local_store.put("global/hostwinds", {"api_key": SECRET})
    assert local_store.get_field("global/hostwinds", "api_key") == SECRET  # decrypted and kept
    blob = bytearray(local_store.store_file.read_bytes())
    blob[-5] ^= 0x01
    local_store.store_file.write_bytes(bytes(blob))  # same inode, same size, maybe same mtime tick
    with pytest.raises(SecretsTampered):
        local_store.get("global/hostwinds")


def test_a_reader_sees_another_writers_update(local_env: dict[str, str]) -> None:
    reader, writer = get_store(local_env), get_store(local_env)
    writer.put("global/hostwinds", {"api_key": "one"})
    assert reader.get_field("global/hostwinds", "api_key") == "one"
    writer.put("global/hostwinds", {"api_key": "two"})
    assert reader.get_field("global/hostwinds", "api_key") == "two"
