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


def _copy_of_session(app, client):
    """A second browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value, domain="localhost")
    return thief


def test_a_copied_session_cookie_stops_working_after_logout(app, client, world):
    login(client, world.alice.email, PASSWORD)
    thief = _copy_of_session(app, client)
    assert thief.get("/").status_code == 200
    _logout(client)
    assert _bounced_to_login(thief.get("/"))
    assert _bounced_to_login(thief.get("/account"))


def test_a_new_password_ends_every_other_session(app, client, world):
    login(client, world.alice.email, PASSWORD)
    thief = _copy_of_session(app, client)
    other_browser = app.test_client()
    login(other_browser, world.alice.email, PASSWORD)
    new_password = "a different long password"
    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "new": new_password, "csrf_token": csrf_token(client, "/account")},
    )
    assert response.status_code == 302
    assert client.get("/account").status_code == 200  # the browser that changed it stays in
    assert _bounced_to_login(thief.get("/"))
    assert _bounced_to_login(other_browser.get("/"))
    assert login(other_browser, world.alice.email, PASSWORD).status_code == 401
    assert login(other_browser, world.alice.email, new_password).status_code == 302


def test_a_wrong_current_password_changes_nothing(client, world):
    login(client, world.alice.email, PASSWORD)
    response = client.post(
        "/account/password",
        data={
            "current": "not my password",
            "new": "a different long password",
            "csrf_token": csrf_token(client, "/account"),
        },
        follow_redirects=True,
    )
    assert "the current password is wrong" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200
    db.session.expire_all()
    assert accounts.authenticate(world.alice.email, PASSWORD, "192.0.2.1") is not None
