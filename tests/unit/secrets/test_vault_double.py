"""The Vault double answers with Vault's documented shapes (checked with raw HTTP, not hvac)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from testbed.doubles.vault import VaultState, create_app

pytestmark = pytest.mark.unit


@pytest.fixture
def state() -> VaultState:
    return VaultState()


@pytest.fixture
def client(state: VaultState) -> FlaskClient:
    return create_app(state).test_client()


def _auth(state: VaultState) -> dict[str, str]:
    return {"X-Vault-Token": state.root_token}


def test_health_codes(client: FlaskClient, state: VaultState) -> None:
    response = client.get("/v1/sys/health")
    assert response.status_code == 200 and response.json["sealed"] is False
    assert response.headers["X-Mailfleet-Double"] == "vault"
    state.standby = True
    assert client.get("/v1/sys/health").status_code == 429
    assert client.get("/v1/sys/health?standbyok=true").status_code == 200
    assert client.get("/v1/sys/health?standbycode=200").status_code == 200
    state.standby = False
    state.seal()
    response = client.get("/v1/sys/health")
    assert response.status_code == 503 and response.json["sealed"] is True
    assert client.get("/v1/sys/health?sealedcode=200").status_code == 200
    head = client.head("/v1/sys/health")
    assert head.status_code == 503 and head.data == b""
    state.initialized = False
    assert client.get("/v1/sys/health").status_code == 501


def test_seal_status(client: FlaskClient, state: VaultState) -> None:
    body = client.get("/v1/sys/seal-status").json
    assert body["sealed"] is False and body["type"] == "shamir" and "cluster_id" in body
    state.seal()
    body = client.get("/v1/sys/seal-status").json
    assert body["sealed"] is True and "cluster_id" not in body


def test_sealed_answers_503_vault_is_sealed(client: FlaskClient, state: VaultState) -> None:
    state.seal()
    response = client.get("/v1/secret/data/x", headers=_auth(state))
    assert response.status_code == 503 and response.json == {"errors": ["Vault is sealed"]}


def test_no_or_wrong_token_is_403_permission_denied(client: FlaskClient) -> None:
    for headers in ({}, {"X-Vault-Token": "hvs.nope"}):
        response = client.get("/v1/secret/data/x", headers=headers)
        assert response.status_code == 403 and response.json == {"errors": ["permission denied"]}


def test_kv2_write_read_versions(client: FlaskClient, state: VaultState) -> None:
    response = client.post("/v1/secret/data/app/db", json={"data": {"pw": "1"}}, headers=_auth(state))
    assert response.status_code == 200
    written = response.json["data"]
    assert written["version"] == 1 and written["deletion_time"] == "" and written["destroyed"] is False
    update = {"data": {"pw": "2"}, "options": {"cas": 1}}
    assert client.put("/v1/secret/data/app/db", json=update, headers=_auth(state)).status_code == 200
    body = client.get("/v1/secret/data/app/db", headers=_auth(state)).json
    assert body["data"]["data"] == {"pw": "2"} and body["data"]["metadata"]["version"] == 2
    assert set(body) >= {
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    }
    old = client.get("/v1/secret/data/app/db?version=1", headers=_auth(state)).json
    assert old["data"]["data"] == {"pw": "1"}
    response = client.get("/v1/secret/data/app/db?version=7", headers=_auth(state))
    assert response.status_code == 404 and response.json == {"errors": []}


def test_kv2_cas_mismatch_and_no_data(client: FlaskClient, state: VaultState) -> None:
    client.post("/v1/secret/data/k", json={"data": {"a": "b"}}, headers=_auth(state))
    response = client.post(
        "/v1/secret/data/k", json={"data": {"a": "c"}, "options": {"cas": 0}}, headers=_auth(state)
    )
    assert response.status_code == 400
    assert response.json == {"errors": ["check-and-set parameter did not match the current version"]}
    response = client.post("/v1/secret/data/k", json={"options": {}}, headers=_auth(state))
    assert response.status_code == 400 and response.json == {"errors": ["no data provided"]}


def test_missing_secret_is_404_empty_errors(client: FlaskClient, state: VaultState) -> None:
    for path in ("/v1/secret/data/none", "/v1/secret/metadata/none"):
        response = client.get(path, headers=_auth(state))
        assert response.status_code == 404 and response.json == {"errors": []}


def test_metadata_list_and_delete(client: FlaskClient, state: VaultState) -> None:
    for path in ("a/b", "a/c/d", "e"):
        client.post(f"/v1/secret/data/{path}", json={"data": {"x": "y"}}, headers=_auth(state))
    listed = client.open("/v1/secret/metadata/a", method="LIST", headers=_auth(state)).json
    assert listed["data"] == {"keys": ["b", "c/"]}
    root = client.get("/v1/secret/metadata/?list=true", headers=_auth(state)).json
    assert root["data"] == {"keys": ["a/", "e"]}
    assert client.open("/v1/secret/metadata/zz", method="LIST", headers=_auth(state)).status_code == 404
    meta = client.get("/v1/secret/metadata/a/b", headers=_auth(state)).json["data"]
    assert meta["current_version"] == 1 and set(meta["versions"]["1"]) == {
        "created_time",
        "deletion_time",
        "destroyed",
    }
    assert client.delete("/v1/secret/metadata/a/b", headers=_auth(state)).status_code == 204
    assert client.get("/v1/secret/data/a/b", headers=_auth(state)).status_code == 404


def test_soft_deleted_version_is_404_with_metadata(client: FlaskClient, state: VaultState) -> None:
    client.post("/v1/secret/data/k", json={"data": {"a": "b"}}, headers=_auth(state))
    assert client.delete("/v1/secret/data/k", headers=_auth(state)).status_code == 204
    response = client.get("/v1/secret/data/k", headers=_auth(state))
    assert response.status_code == 404
    assert response.json["data"]["data"] is None and response.json["data"]["metadata"]["deletion_time"]


def test_ten_versions_kept(client: FlaskClient, state: VaultState) -> None:
    for n in range(12):
        client.post("/v1/secret/data/k", json={"data": {"n": str(n)}}, headers=_auth(state))
    meta = client.get("/v1/secret/metadata/k", headers=_auth(state)).json["data"]
    assert sorted(map(int, meta["versions"])) == list(range(3, 13)) and meta["oldest_version"] == 3


def test_approle_login_shapes(client: FlaskClient, state: VaultState) -> None:
    role_id, secret_id = state.add_approle("mailfleet")
    response = client.post("/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret_id})
    auth = response.json["auth"]
    assert response.status_code == 200 and auth["client_token"].startswith("hvs.")
    assert auth["metadata"] == {"role_name": "mailfleet"} and auth["renewable"] is True
    token = auth["client_token"]
    assert client.get("/v1/secret/metadata/?list=true", headers={"X-Vault-Token": token}).status_code == 404
    bad = client.post("/v1/auth/approle/login", json={"role_id": role_id, "secret_id": "x"})
    assert bad.status_code == 400 and bad.json == {"errors": ["invalid role or secret ID"]}
    missing = client.post("/v1/auth/approle/login", json={})
    assert missing.status_code == 400 and missing.json == {"errors": ["missing role_id"]}


def test_an_operator_makes_an_approle_through_the_api(client: FlaskClient, state: VaultState) -> None:
    policy = 'path "secret/data/mailfleet/*" { capabilities = ["read"] }'
    made = client.put("/v1/sys/policies/acl/machine", json={"policy": policy}, headers=_auth(state))
    assert made.status_code == 204
    role = "/v1/auth/approle/role/wm"
    # Not enabled yet: no such route; then enabled once.
    assert client.post(role, json={"token_policies": ["machine"]}, headers=_auth(state)).status_code == 404
    enable = client.post("/v1/sys/auth/approle", json={"type": "approle"}, headers=_auth(state))
    assert enable.status_code == 204
    again = client.post("/v1/sys/auth/approle", json={"type": "approle"}, headers=_auth(state))
    assert again.status_code == 400 and again.json == {"errors": ["path is already in use at approle/"]}
    assert client.post(role, json={"token_policies": "machine"}, headers=_auth(state)).status_code == 204
    role_id = client.get(f"{role}/role-id", headers=_auth(state)).json["data"]["role_id"]
    secret_id = client.post(f"{role}/secret-id", headers=_auth(state)).json["data"]["secret_id"]
    assert client.get("/v1/auth/approle/role/nobody/role-id", headers=_auth(state)).status_code == 404

    login = client.post("/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret_id})
    assert login.status_code == 200 and login.json["auth"]["token_policies"] == ["default", "machine"]
    token = {"X-Vault-Token": login.json["auth"]["client_token"]}
    written = client.post("/v1/secret/data/mailfleet/x", json={"data": {"a": "1"}}, headers=_auth(state))
    assert written.status_code == 200
    assert client.get("/v1/secret/data/mailfleet/x", headers=token).json["data"]["data"] == {"a": "1"}
    assert client.post("/v1/secret/data/mailfleet/x", json={"data": {}}, headers=token).status_code == 403
    # The role's own token may not make roles, nor read another's secret ID.
    assert client.post(f"{role}/secret-id", headers=token).status_code == 403
    assert client.post("/v1/sys/auth/other", json={"type": "approle"}, headers=token).status_code == 403


def test_unknown_mount_and_namespace(client: FlaskClient, state: VaultState) -> None:
    response = client.get("/v1/nomount/data/x", headers=_auth(state))
    assert response.status_code == 404 and "no handler for route" in response.json["errors"][0]
    response = client.get("/v1/secret/data/x", headers={**_auth(state), "X-Vault-Namespace": "unknown"})
    assert response.status_code == 404
    state.add_namespace("ns1")
    in_ns1 = {**_auth(state), "X-Vault-Namespace": "ns1"}
    assert client.post("/v1/secret/data/x", json={"data": {"a": "1"}}, headers=in_ns1).status_code == 200
    assert client.get("/v1/secret/data/x", headers=_auth(state)).status_code == 404


def test_state_dir_keeps_root_token(tmp_path: Path) -> None:
    create_app(state_dir=tmp_path)
    token_file = tmp_path / "root_token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    app = create_app(state_dir=tmp_path)
    assert app.config["VAULT_STATE"].root_token == token_file.read_text().strip()


def test_what_hvac_asks_first(state: VaultState) -> None:
    import hvac  # the double must satisfy hvac's own helpers, not only our backend

    app = create_app(state)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        client = hvac.Client(url=url, token=state.root_token)
        assert client.sys.is_initialized() is True
        assert client.sys.is_sealed() is False
        assert client.is_authenticated() is True
        assert hvac.Client(url=url, token="hvs.wrong").is_authenticated() is False
        state.seal()
        assert client.sys.is_sealed() is True
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


POLICY = '''
# a run of tenant acme
path "secret/data/mailfleet/tenants/acme/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/mailfleet/tenants/acme/*" {
  capabilities = ["read", "list"]
}
path "secret/data/mailfleet/global/hostwinds" {
  capabilities = ["read"]
}
'''


def test_policies_written_read_listed_and_malformed_refused(client: FlaskClient, state: VaultState) -> None:
    put = client.put("/v1/sys/policies/acl/Run-Acme", json={"policy": POLICY}, headers=_auth(state))
    assert put.status_code == 204
    read = client.get("/v1/sys/policies/acl/run-acme", headers=_auth(state)).json["data"]
    assert read == {"name": "run-acme", "policy": POLICY}
    listed = client.open("/v1/sys/policies/acl", method="LIST", headers=_auth(state)).json["data"]
    assert listed["keys"] == ["default", "root", "run-acme"]
    bad = client.put("/v1/sys/policies/acl/x", json={"policy": 'path "a" { caps = 1 }'}, headers=_auth(state))
    assert bad.status_code == 400 and bad.json["errors"][0].startswith("failed to parse policy")
    root = client.put("/v1/sys/policies/acl/root", json={"policy": POLICY}, headers=_auth(state))
    assert root.status_code == 400 and root.json == {"errors": ['cannot update "root" policy']}
    assert client.get("/v1/sys/policies/acl/nope", headers=_auth(state)).status_code == 404


def test_child_token_holds_only_its_policy(client: FlaskClient, state: VaultState) -> None:
    client.put("/v1/sys/policies/acl/run-acme", json={"policy": POLICY}, headers=_auth(state))
    paths = ("mailfleet/tenants/acme/mailu", "mailfleet/tenants/globex/mailu", "mailfleet/global/hostwinds")
    for path in paths:
        client.post(f"/v1/secret/data/{path}", json={"data": {"k": "v"}}, headers=_auth(state))
    created = client.post(
        "/v1/auth/token/create",
        json={"policies": ["run-acme"], "ttl": "1h", "explicit_max_ttl": "1h", "renewable": False},
        headers=_auth(state),
    )
    assert created.status_code == 200
    auth = created.json["auth"]
    assert auth["policies"] == ["default", "run-acme"] and auth["lease_duration"] == 3600
    assert auth["renewable"] is False and auth["orphan"] is False
    child = {"X-Vault-Token": auth["client_token"]}
    assert client.get("/v1/secret/data/mailfleet/tenants/acme/mailu", headers=child).status_code == 200
    assert client.post("/v1/secret/data/mailfleet/tenants/acme/new", json={"data": {"k": "v"}},
                       headers=child).status_code == 200
    assert client.get("/v1/secret/data/mailfleet/global/hostwinds", headers=child).status_code == 200
    listing = client.open("/v1/secret/metadata/mailfleet/tenants/acme", method="LIST", headers=child)
    assert listing.status_code == 200
    for method, path in (("GET", "secret/data/mailfleet/tenants/globex/mailu"),
                         ("POST", "secret/data/mailfleet/global/hostwinds"),
                         ("LIST", "secret/metadata/mailfleet/tenants"),
                         ("GET", "sys/policies/acl/run-acme")):
        denied = client.open(f"/v1/{path}", method=method, json={"data": {"k": "x"}}, headers=child)
        assert (denied.status_code, denied.json) == (403, {"errors": ["permission denied"]}), (method, path)
    looked = client.get("/v1/auth/token/lookup-self", headers=child).json["data"]
    assert looked["policies"] == ["default", "run-acme"] and 3590 <= looked["ttl"] <= 3600
    assert client.post("/v1/auth/token/revoke-self", headers=child).status_code == 204
    assert client.get("/v1/secret/data/mailfleet/tenants/acme/mailu", headers=child).status_code == 403


def test_token_create_rules(client: FlaskClient, state: VaultState) -> None:
    client.put("/v1/sys/policies/acl/run-acme", json={"policy": POLICY}, headers=_auth(state))
    plain = {"X-Vault-Token": state.add_token(rules={"auth/token/create": {"update"}})}
    refused = client.post("/v1/auth/token/create", json={"policies": ["run-acme"]}, headers=plain)
    assert refused.status_code == 400
    assert refused.json == {"errors": ["child policies must be subset of parent"]}
    sudo = {"X-Vault-Token": state.add_token(rules={"auth/token/create": {"update", "sudo"}})}
    allowed = client.post("/v1/auth/token/create", json={"policies": ["run-acme"]}, headers=sudo)
    assert allowed.status_code == 200
    nothing = {"X-Vault-Token": state.add_token(rules={"secret/*": {"read"}})}
    assert client.post("/v1/auth/token/create", json={}, headers=nothing).status_code == 403
    once = client.post("/v1/auth/token/create", json={"policies": ["run-acme"], "num_uses": 1},
                       headers=_auth(state)).json["auth"]["client_token"]
    assert client.get("/v1/auth/token/lookup-self", headers={"X-Vault-Token": once}).status_code == 200
    assert client.get("/v1/auth/token/lookup-self", headers={"X-Vault-Token": once}).status_code == 403


def test_most_specific_path_wins_and_deny_wins(client: FlaskClient, state: VaultState) -> None:
    token = {"X-Vault-Token": state.add_token(rules={
        "secret/data/*": {"read"},
        "secret/data/+/closed": {"deny"},
        "secret/data/a/open": {"read", "create", "update"},
    })}
    client.post("/v1/secret/data/a/closed", json={"data": {"k": "v"}}, headers=_auth(state))
    client.post("/v1/secret/data/a/other", json={"data": {"k": "v"}}, headers=_auth(state))
    assert client.get("/v1/secret/data/a/other", headers=token).status_code == 200
    assert client.get("/v1/secret/data/a/closed", headers=token).status_code == 403
    assert client.post("/v1/secret/data/a/open", json={"data": {"k": "v"}}, headers=token).status_code == 200
    assert client.post("/v1/secret/data/a/other", json={"data": {"k": "v"}}, headers=token).status_code == 403
