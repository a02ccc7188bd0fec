"""Vault backend against the Vault double on loopback: auth, errors, namespaces, no fallback."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from mailfleet.secrets import (
    SecretNotFound,
    SecretsAccessDenied,
    SecretsBackendError,
    SecretsConfigError,
    SecretsSealed,
    get_store,
)
from mailfleet.secrets.scope import RunScope
from mailfleet.secrets.vault import VaultStore
from testbed.doubles.vault import VaultState, create_app

pytestmark = pytest.mark.unit

SECRET = "vault-Secret-Value-987654321"
Double = tuple[str, VaultState]


def _store(env: dict[str, str], **changes: str) -> VaultStore:
    store = get_store({**env, **changes})
    assert isinstance(store, VaultStore)
    return store


def test_secrets_land_under_the_prefix_in_the_kv2_mount(
    vault_store: VaultStore, vault_double: Double
) -> None:
    _, state = vault_double
    vault_store.put("tenants/acme/restic", {"password": SECRET})
    stored = state.kv[("", "secret")]["mailfleet/tenants/acme/restic"]
    assert stored.versions[1].data == {"password": SECRET}
    assert ("POST", "/v1/secret/data/mailfleet/tenants/acme/restic") in state.requests


def test_mount_and_prefix_configurable(vault_env: dict[str, str], vault_double: Double) -> None:
    _, state = vault_double
    state.add_namespace("", mounts=("kv-mail",))
    store = _store(vault_env, MAILFLEET_VAULT_MOUNT="kv-mail", MAILFLEET_VAULT_PREFIX="")
    store.put("global/hostwinds", {"api_key": SECRET})
    assert "global/hostwinds" in state.kv[("", "kv-mail")]
    assert store.list("") == ["global/hostwinds"]


def test_unknown_mount_is_a_config_error(vault_env: dict[str, str]) -> None:
    with pytest.raises(SecretsConfigError, match="MAILFLEET_VAULT_MOUNT='nope'"):
        _store(vault_env, MAILFLEET_VAULT_MOUNT="nope").get("global/hostwinds")


def test_wrong_token_is_a_clear_error(vault_env: dict[str, str]) -> None:
    with pytest.raises(SecretsAccessDenied, match="403 permission denied") as err:
        _store(vault_env, VAULT_TOKEN="hvs.wrong").get("global/hostwinds")
    assert "hvs.wrong" not in str(err.value)


def test_token_from_file(vault_env: dict[str, str], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vault_env["VAULT_TOKEN"] + "\n")
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    store = _store(env, VAULT_TOKEN_FILE=str(token_file))
    store.put("global/hostwinds", {"api_key": SECRET})
    assert store.get_field("global/hostwinds", "api_key") == SECRET


def test_policy_limits_paths(vault_env: dict[str, str], vault_double: Double) -> None:
    _, state = vault_double
    token = state.add_token(rules={"secret/data/mailfleet/tenants/acme/*": {"read", "create", "update"}})
    limited = _store(vault_env, VAULT_TOKEN=token)
    limited.put("tenants/acme/restic", {"password": SECRET})
    assert limited.get_field("tenants/acme/restic", "password") == SECRET
    with pytest.raises(SecretsAccessDenied):
        limited.get("tenants/other/restic")


def test_approle_login(vault_env: dict[str, str], vault_double: Double, tmp_path: Path) -> None:
    _, state = vault_double
    role_id, secret_id = state.add_approle("mailfleet")
    secret_file = tmp_path / "secret_id"
    secret_file.write_text(secret_id)
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    store = _store(env, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID_FILE=str(secret_file))
    assert store.settings.auth == "approle"
    store.put("global/cloudflare", {"api_token": SECRET})
    assert store.get_field("global/cloudflare", "api_token") == SECRET
    assert ("POST", "/v1/auth/approle/login") in state.requests


def test_approle_relogin_once_when_token_is_revoked(vault_env: dict[str, str], vault_double: Double) -> None:
    _, state = vault_double
    role_id, secret_id = state.add_approle("mailfleet")
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    store = _store(env, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID=secret_id)
    store.put("global/cloudflare", {"api_token": SECRET})
    for token in [t for t in state.tokens if t != state.root_token]:
        state.revoke_token(token)
    assert store.get_field("global/cloudflare", "api_token") == SECRET
    assert state.requests.count(("POST", "/v1/auth/approle/login")) == 2


def test_wrong_secret_id_is_a_clear_error(vault_env: dict[str, str], vault_double: Double) -> None:
    _, state = vault_double
    role_id, _ = state.add_approle("mailfleet")
    env = {k: v for k, v in vault_env.items() if k != "VAULT_TOKEN"}
    with pytest.raises(SecretsAccessDenied, match="AppRole login.*invalid role or secret ID") as err:
        _store(env, VAULT_ROLE_ID=role_id, VAULT_SECRET_ID="not-it").get("global/cloudflare")
    assert "not-it" not in str(err.value)


def test_namespace_header(vault_env: dict[str, str], vault_double: Double) -> None:
    _, state = vault_double
    state.add_namespace("team-mail")
    store = _store(vault_env, VAULT_NAMESPACE="team-mail")
    store.put("global/hostwinds", {"api_key": SECRET})
    assert "mailfleet/global/hostwinds" in state.kv[("team-mail", "secret")]
    assert "mailfleet/global/hostwinds" not in state.kv[("", "secret")]
    with pytest.raises(SecretNotFound):
        _store(vault_env).get("global/hostwinds")
    token = state.add_token(namespace="team-mail")
    with pytest.raises(SecretsAccessDenied):  # a namespace token cannot reach the root namespace
        _store(vault_env, VAULT_TOKEN=token).get("global/hostwinds")


def test_sealed_is_a_clear_error_and_nothing_is_written(
    vault_store: VaultStore,
    vault_double: Double,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, state = vault_double
    vault_store.put("global/hostwinds", {"api_key": "before"})
    monkeypatch.setenv("MAILFLEET_SECRETS_FILE", str(tmp_path / "store.enc"))
    monkeypatch.setenv("MAILFLEET_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    state.seal()
    with pytest.raises(SecretsSealed, match="sealed"):
        vault_store.get("global/hostwinds")
    with pytest.raises(SecretsSealed):
        vault_store.put("global/hostwinds", {"api_key": SECRET})
    assert list(tmp_path.iterdir()) == []  # no fallback to a local store
    state.unseal()
    assert vault_store.get_field("global/hostwinds", "api_key") == "before"


def test_a_run_token_vault_cannot_revoke_lapses_without_failing_the_run(
    vault_store: VaultStore, vault_double: Double, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, state = vault_double
    with vault_store.run_credentials(RunScope("acme"), tmp_path / "run", ttl=90) as env:
        token = Path(env["VAULT_TOKEN_FILE"]).read_text().strip()
        assert token in state.tokens
        state.seal()  # Vault goes away as the run ends
    assert not (tmp_path / "run" / "vault-token").exists()
    assert token in state.tokens  # not revoked: it expires with its TTL instead
    warning = [r.getMessage() for r in caplog.records if "was not revoked" in r.getMessage()]
    assert warning == ["vault: the token of mailfleet-run-acme was not revoked "
                       f"(Vault at {vault_store.settings.addr} is sealed: nothing can be read or written "
                       "until an operator unseals it (no fallback store is used)); it expires within 90 s"]
    assert token not in caplog.text
    # Reachable again: a run's token is revoked as it ends.
    state.unseal()
    with vault_store.run_credentials(RunScope("acme"), tmp_path / "run", ttl=90) as env:
        token = Path(env["VAULT_TOKEN_FILE"]).read_text().strip()
    assert token not in state.tokens


def test_unreachable_is_a_clear_error_without_fallback(
    vault_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILFLEET_SECRETS_FILE", str(tmp_path / "store.enc"))
    monkeypatch.setenv("MAILFLEET_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    store = _store(vault_env, VAULT_ADDR="http://127.0.0.1:9", MAILFLEET_VAULT_TIMEOUT="2")
    with pytest.raises(SecretsBackendError, match="cannot reach Vault at http://127.0.0.1:9.*no fallback"):
        store.put("global/hostwinds", {"api_key": SECRET})
    with pytest.raises(SecretsBackendError, match="cannot reach"):
        store.get("global/hostwinds")
    assert list(tmp_path.iterdir()) == []


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "vault.crt", directory / "vault.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_is_verified_and_the_ca_is_configurable(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    state = VaultState()
    server = make_server("127.0.0.1", 0, create_app(state), threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        env = {"MAILFLEET_SECRETS_BACKEND": "vault", "VAULT_ADDR": f"https://127.0.0.1:{server.server_port}",
               "VAULT_TOKEN": state.root_token, "MAILFLEET_VAULT_TIMEOUT": "5"}
        with pytest.raises(SecretsBackendError, match="TLS verification .* failed: set VAULT_CACERT"):
            get_store(env).put("global/hostwinds", {"api_key": SECRET})
        assert state.kv[("", "secret")] == {}  # nothing was sent
        trusting = get_store({**env, "VAULT_CACERT": str(cert_file)})
        trusting.put("global/hostwinds", {"api_key": SECRET})
        assert trusting.get_field("global/hostwinds", "api_key") == SECRET
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"VAULT_ADDR": ""}, "needs VAULT_ADDR"),
        ({"VAULT_ADDR": "http://vault.example.com:8200"}, "plain http to a non-loopback host"),
        ({"VAULT_ADDR": "ftp://127.0.0.1"}, "not an http"),
        ({"VAULT_TOKEN": ""}, "VAULT_TOKEN or VAULT_TOKEN_FILE"),
        ({"MAILFLEET_VAULT_AUTH": "approle"}, "VAULT_ROLE_ID"),
        ({"MAILFLEET_VAULT_AUTH": "ldap"}, "use token or approle"),
        ({"VAULT_CACERT": "/nonexistent/ca.pem"}, "is not a file"),
        ({"MAILFLEET_VAULT_MOUNT": "../x"}, "MAILFLEET_VAULT_MOUNT"),
        ({"VAULT_TOKEN_FILE": "/nonexistent/token", "VAULT_TOKEN": ""}, "VAULT_TOKEN_FILE=.*: cannot read"),
    ],
)
def test_configuration_errors(vault_env: dict[str, str], changes: dict[str, str], message: str) -> None:
    with pytest.raises(SecretsConfigError, match=message):
        get_store({**vault_env, **changes})


def test_settings_repr_hides_credentials(vault_store: VaultStore) -> None:
    assert vault_store.settings.token is not None
    assert vault_store.settings.token not in repr(vault_store.settings)
    assert vault_store.settings.token not in repr(vault_store)


def test_errors_and_logs_carry_no_secret(
    vault_store: VaultStore, vault_double: Double, caplog: pytest.LogCaptureFixture
) -> None:
    _, state = vault_double
    caplog.set_level(logging.DEBUG)
    vault_store.put("global/hostwinds", {"api_key": SECRET})
    messages = []
    state.seal()
    for call in (
        lambda: vault_store.put("global/hostwinds", {"api_key": SECRET}),
        lambda: vault_store.get("global/hostwinds"),
    ):
        with pytest.raises(SecretsSealed) as err:
            call()
        messages.append(str(err.value))
        assert err.value.__suppress_context__  # hvac's exception (with URL and body) is not chained
    state.unseal()
    assert all(SECRET not in m and state.root_token not in m for m in messages)
    assert SECRET not in caplog.text and state.root_token not in caplog.text
