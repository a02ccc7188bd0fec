"""Sessions as a browser sees them: every request in its own context, so the logged-in user comes
back from the session cookie (or not) on each one."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.services import accounts
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import csrf_token, login

pytestmark = pytest.mark.unit


def _bounced_to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def _logout(client) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302


def test_the_session_brings_the_user_back_on_every_request(client, world):
    assert login(client, world.alice.email, PASSWORD).status_code == 302
    for url in ("/", "/account", "/tenants/acme"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert world.alice.email in page.get_data(as_text=True)


def test_logout_ends_the_session(client, world):
    login(client, world.alice.email, PASSWORD)
    _logout(client)
    assert _bounced_to_login(client.get("/"))
    assert _bounced_to_login(client.get("/account"))


def test_a_deactivated_user_is_logged_out(client, world):
    login(client, world.alice.email, PASSWORD)
    assert client.get("/").status_code == 200
    world.alice.active = False
    db.session.commit()
    assert _bounced_to_login(client.get("/"))
    assert login(client, world.alice.email, PASSWORD).status_code == 401


def test_the_api_token_of_a_deactivated_user_is_refused(client, world):
    token = accounts.issue_api_token(world.alice)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/runs", headers=headers).status_code == 200
    world.alice.active = False
    db.session.commit()
    assert client.get("/api/v1/runs", headers=headers).status_code == 401
