"""The Mailu API double itself: the contract points a client could not show."""

from __future__ import annotations

import pytest

from testbed.doubles.mailu import MailuDoubleState, create_app

pytestmark = pytest.mark.unit

AUTH = {"Authorization": "Bearer tok-12345"}


@pytest.fixture
def app(tmp_path):
    state = MailuDoubleState(tmp_path / "state.json", auth_ratelimit=3)
    application = create_app(state=state)
    application.test_client().put(
        "/_double/servers/mail.a.test",
        json={
            "api_token": "tok-12345",
            "domain": "a.test",
            "initial_admin_account": "admin",
            "initial_admin_domain": "a.test",
            "initial_admin_pw": "pw-123456789",
        },
    )
    return application


def test_every_answer_is_labelled_as_a_double(app):
    client = app.test_client()
    for response in (
        client.get("/mail.a.test/api/v1/domain", headers=AUTH),
        client.get("/mail.a.test/api/v1/nowhere", headers=AUTH),
        client.get("/unknown.test/api/v1/domain", headers=AUTH),
    ):
        assert response.headers["X-Mailfleet-Double"] == "mailu"
    # A mail host whose Mailu is not up answers like Mailu's front before the admin starts.
    assert client.get("/unknown.test/api/v1/domain", headers=AUTH).status_code == 502


def test_initial_admin_ifmissing_is_idempotent(app):
    client = app.test_client()
    before = client.get("/mail.a.test/api/v1/user/admin@a.test", headers=AUTH).json["password"]
    client.put(
        "/_double/servers/mail.a.test",
        json={
            "api_token": "tok-12345",
            "domain": "a.test",
            "initial_admin_account": "admin",
            "initial_admin_domain": "a.test",
            "initial_admin_pw": "other-pw-123",
            "initial_admin_mode": "ifmissing",
        },
    )
    after = client.get("/mail.a.test/api/v1/user/admin@a.test", headers=AUTH).json
    assert after["password"] == before and after["global_admin"] is True


def test_creates_answer_200_and_put_is_not_allowed(app):
    client = app.test_client()
    created = client.post("/mail.a.test/api/v1/domain", json={"name": "b.test"}, headers=AUTH)
    assert created.status_code == 200
    assert created.json == {"code": 200, "message": "Domain b.test has been created"}
    assert client.put("/mail.a.test/api/v1/domain/b.test", json={}, headers=AUTH).status_code == 405
    assert client.post("/admin/api/v1/users", json={}, headers=AUTH).status_code == 404


def test_payload_validation_is_400_like_restx(app):
    client = app.test_client()
    answer = client.post("/mail.a.test/api/v1/user", json={"email": "x@a.test"}, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json["errors"] == {"raw_password": "'raw_password' is a required property"}
    answer = client.post(
        "/mail.a.test/api/v1/domain", json={"name": "c.test", "max_users": "10"}, headers=AUTH
    )
    assert answer.status_code == 400 and "max_users" in answer.json["errors"]


def test_rate_limit_counts_per_ip_and_per_server(app):
    client = app.test_client()
    wrong = {"Authorization": "Bearer nope"}
    for _ in range(3):
        assert client.get("/mail.a.test/api/v1/domain", headers=wrong).status_code == 403
    assert client.get("/mail.a.test/api/v1/domain", headers=AUTH).status_code == 429
    other_ip = {**AUTH, "X-Real-IP": "198.18.1.9"}
    assert client.get("/mail.a.test/api/v1/domain", headers=other_ip).status_code == 200


def test_state_survives_a_restart(app, tmp_path):
    client = app.test_client()
    client.post(
        "/mail.a.test/api/v1/user",
        json={"email": "kept@a.test", "raw_password": "pw-123456789"},
        headers=AUTH,
    )
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    reborn = create_app(state=MailuDoubleState(tmp_path / "state.json")).test_client()
    assert reborn.get("/mail.a.test/api/v1/user/kept@a.test", headers=AUTH).status_code == 200


def test_usage_control_feeds_quota_bytes_used(app):
    client = app.test_client()
    assert (
        client.put(
            "/_double/servers/mail.a.test/usage/admin@a.test", json={"quota_bytes_used": 12345}
        ).status_code
        == 200
    )
    assert client.get("/mail.a.test/api/v1/user/admin@a.test", headers=AUTH).json["quota_bytes_used"] == 12345


def test_delete_domain_cascades(app):
    client = app.test_client()
    client.post("/mail.a.test/api/v1/domain", json={"name": "d.test"}, headers=AUTH)
    client.post(
        "/mail.a.test/api/v1/user", json={"email": "u@d.test", "raw_password": "pw-123456789"}, headers=AUTH
    )
    client.post(
        "/mail.a.test/api/v1/alias", json={"email": "al@d.test", "destination": ["u@d.test"]}, headers=AUTH
    )
    assert client.delete("/mail.a.test/api/v1/domain/d.test", headers=AUTH).status_code == 200
    assert client.get("/mail.a.test/api/v1/user/u@d.test", headers=AUTH).status_code == 404
    assert client.get("/mail.a.test/api/v1/alias/al@d.test", headers=AUTH).status_code == 404
