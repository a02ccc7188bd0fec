"""Tenant isolation (pages and API), CSRF, cookies, login rate limiting, API tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.errors import Conflict
from webapp.extensions import db
from webapp.models import Domain, Run, Server, ServerStatus, User
from webapp.services import accounts, runs
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD as PASSWORD
from webapp.testing import csrf_token, login

pytestmark = pytest.mark.unit


@pytest.fixture
def acme_things(world):
    server = Server(
        tenant_id=world.acme.id, name="mf-acme-1", public_ipv4="198.18.17.10", status=ServerStatus.ACTIVE
    )
    db.session.add(server)
    db.session.flush()
    db.session.add(Domain(tenant_id=world.acme.id, server_id=server.id, name="acme-mail.example"))
    db.session.commit()
    run = runs.submit_run(Scope(world.alice), world.acme, "site")
    return server, run


def test_member_of_another_tenant_sees_nothing_of_acme(client, world, acme_things):
    _server, run = acme_things
    assert login(client, world.bob.email, PASSWORD).status_code == 302
    for url in ("/", "/servers", "/runs", "/tenants/"):
        page = client.get(url, follow_redirects=True).get_data(as_text=True)
        assert "mf-acme-1" not in page and "acme-mail.example" not in page and f"run {run.id}" not in page
    assert client.get("/tenants/acme").status_code == 404
    assert client.get(f"/runs/{run.id}").status_code == 404
    assert client.get(f"/runs/{run.id}/live?after=0").status_code == 404
    token = csrf_token(client, "/")
    assert client.post(f"/runs/{run.id}/cancel", data={"csrf_token": token}).status_code in (302, 404)
    db.session.expire_all()
    assert db.session.get(Run, run.id).status.value == "queued"  # untouched
    # Posting to acme's forms fails without changing anything.
    before = db.session.execute(select(Run.id)).scalars().all()
    response = client.post(
        "/tenants/acme/runs", data={"csrf_token": token, "playbook": "site", "submission_key": "k" * 16}
    )
    assert response.status_code == 404
    assert db.session.execute(select(Run.id)).scalars().all() == before


def test_member_sees_own_tenant(client, world, acme_things):
    login(client, world.alice.email, PASSWORD)
    assert client.get("/tenants/").headers["Location"].endswith("/tenants/acme")
    page = client.get("/tenants/acme").get_data(as_text=True)
    assert "mf-acme-1" in page and "acme-mail.example" in page
    assert client.get("/tenants/globex").status_code == 404


def test_api_isolation_and_tokens(client, world, acme_things):
    _server, run = acme_things
    bob_token = accounts.issue_api_token(world.bob)
    alice_token = accounts.issue_api_token(world.alice)
    # Only a hash is stored.
    stored = db.session.execute(select(User.api_token_hash).where(User.id == world.bob.id)).scalar_one()
    assert stored and stored != bob_token and bob_token not in stored

    def api(token, method, url, **kw):
        return client.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, **kw)

    assert api(bob_token, "GET", f"/api/v1/runs/{run.id}").status_code == 404
    assert api(bob_token, "GET", "/api/v1/tenants/acme/servers").status_code == 404
    assert [r["id"] for r in api(bob_token, "GET", "/api/v1/runs").get_json()] == []
    assert api(bob_token, "POST", f"/api/v1/runs/{run.id}/cancel").status_code == 404
    assert api(alice_token, "GET", f"/api/v1/runs/{run.id}").get_json()["status"] == "queued"
    assert [s["name"] for s in api(alice_token, "GET", "/api/v1/tenants/acme/servers").get_json()] == [
        "mf-acme-1"
    ]
    assert api(alice_token, "POST", "/api/v1/tenants", json={"slug": "evil", "name": "x"}).status_code == 403
    assert api("mft_wrong", "GET", "/api/v1/runs").status_code == 401


def test_api_does_not_accept_the_session_cookie(client, world):
    login(client, world.admin.email, PASSWORD)
    assert client.get("/").status_code == 200
    response = client.post("/api/v1/tenants", json={"slug": "viacookie", "name": "x"})
    assert response.status_code == 401


def test_forms_need_a_csrf_token(client, world):
    login(client, world.admin.email, PASSWORD)
    response = client.post("/tenants/", data={"slug": "nocsrf", "name": "No CSRF"})
    assert response.status_code == 400
    assert client.get("/tenants/nocsrf").status_code == 404


def test_cookies_are_secure_by_default(client, world):
    response = login(client, world.admin.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_demo_needs_the_explicit_override(tmp_path, monkeypatch):
    from webapp.config import load_config

    assert load_config({"MAILFLEET_DATA_DIR": str(tmp_path)})["SESSION_COOKIE_SECURE"] is True
    insecure = load_config({"MAILFLEET_DATA_DIR": str(tmp_path), "MAILFLEET_INSECURE_COOKIES": "true"})
    assert insecure["SESSION_COOKIE_SECURE"] is False


OFFSITE = [
    "//evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\r\n/evil.example/",
    "\t//evil.example/",
    " //evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "/\x00/evil.example/",
]


def _login_with_next(client, world, target):
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        query_string={"next": target},
        data={"email": world.admin.email, "password": PASSWORD, "csrf_token": token},
    )


@pytest.mark.parametrize("target", OFFSITE)
def test_login_never_redirects_off_site(client, world, target):
    response = _login_with_next(client, world, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_returns_to_a_local_page(client, world):
    response = _login_with_next(client, world, "/servers?status=active")
    assert response.headers["Location"] == "/servers?status=active"


def test_pages_need_login(client, world):
    for url in ("/", "/tenants/", "/runs", "/servers", "/account"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_concurrent_submission_key_never_answers_another_tenants_run(world, monkeypatch):
    """Acme's run commits a key between Globex's check of that key and its own commit: Globex is
    refused, as when the key was seen at once, and gets neither Acme's run nor one of its own."""
    acme_run = runs.submit_run(Scope(world.alice), world.acme, "site", submission_key="shared-key-1")
    checked, calls = runs.find_submission, []

    def racing(tenant, key, *args, **kwargs):  # the first check runs before Acme's commit
        calls.append(key)
        return None if len(calls) == 1 else checked(tenant, key, *args, **kwargs)

    monkeypatch.setattr(runs, "find_submission", racing)
    with pytest.raises(Conflict):
        runs.submit_run(Scope(world.bob), world.globex, "site", submission_key="shared-key-1")
    assert db.session.execute(select(Run).where(Run.tenant_id == world.globex.id)).first() is None
    assert db.session.get(Run, acme_run.id).tenant_id == world.acme.id
