"""Malformed and hostile input gets a clear error and changes nothing; duplicates make one run."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Domain, Run, Server, ServerStatus, Tenant
from webapp.testing import csrf_token

pytestmark = pytest.mark.unit

HOSTILE_DOMAINS = [
    "{{ lookup('pipe', 'id') }}.example",
    "{% raw %}x.example",
    "exa mple.com",
    "a" * 300 + ".com",
    "../../etc/passwd",
    "localhost",
    "evil.example; rm -rf /",
    "-bad.example",
    "1.2.3.4",
    "",
]


def counts() -> tuple[int, int, int]:
    return tuple(
        db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in (Run, Domain, Tenant)
    )


@pytest.fixture
def acme_server(world):
    server = Server(
        tenant_id=world.acme.id, name="mf-acme-1", public_ipv4="198.18.17.10", status=ServerStatus.ACTIVE
    )
    db.session.add(server)
    db.session.commit()
    return server


@pytest.mark.parametrize("name", HOSTILE_DOMAINS)
def test_hostile_domain_names_change_nothing(as_admin, acme_server, name):
    before = counts()
    token = csrf_token(as_admin, "/tenants/acme")
    response = as_admin.post(
        "/tenants/acme/domains",
        data={
            "csrf_token": token,
            "server_id": acme_server.id,
            "name": name,
            "submission_key": "dom-12345678",
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'class="flash error"' in page
    assert counts() == before


def test_unicode_domain_is_stored_as_idna(as_admin, acme_server):
    token = csrf_token(as_admin, "/tenants/acme")
    response = as_admin.post(
        "/tenants/acme/domains",
        data={
            "csrf_token": token,
            "server_id": acme_server.id,
            "name": "Bücher.Example",
            "submission_key": "dom-12345678",
        },
    )
    assert response.status_code == 302
    assert db.session.execute(select(Domain.name)).scalar_one() == "xn--bcher-kva.example"
    run = db.session.execute(select(Run)).scalar_one()
    assert run.extravars == {} and run.limit == "mf-acme-1"


def test_jinja_in_a_tenant_name_is_shown_as_text(as_admin):
    token = csrf_token(as_admin, "/tenants/")
    as_admin.post("/tenants/", data={"csrf_token": token, "slug": "jinja", "name": "{{ 7*7 }} <b>x</b>"})
    page = as_admin.get("/tenants/jinja").get_data(as_text=True)
    assert "<h1>{{ 7*7 }} &lt;b&gt;x&lt;/b&gt; <small" in page  # not evaluated, not markup


@pytest.mark.parametrize(
    "slug, name",
    [
        ("UPPER", "x"),
        ("a", "x"),
        ("has space", "x"),
        ("x" * 40, "x"),
        ("ok-slug", "n" * 500),
        ("ok-slug", "\x00"),
    ],
)
def test_bad_tenant_fields_change_nothing(as_admin, slug, name):
    before = counts()
    token = csrf_token(as_admin, "/tenants/")
    response = as_admin.post(
        "/tenants/", data={"csrf_token": token, "slug": slug, "name": name}, follow_redirects=True
    )
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert counts() == before


def test_oversize_and_bad_provision_fields(as_admin, world, hostwinds):
    before = counts()
    token = csrf_token(as_admin, "/tenants/acme")
    for location, plan, host in (
        ("L" * 5000, "1", "mail.acme.example"),
        ("Seattle", "{{ x }}", "mail.acme.example"),
        ("Seattle;id", "1", "mail.acme.example"),
        ("Seattle", "101", "{{ lookup('pipe', 'id') }}"),
        ("Seattle", "101", "not a host"),
        ("Mars", "101", "mail.acme.example"),  # not one of the provider's locations
        ("Seattle", "999", "mail.acme.example"),  # nor of its plans
    ):
        response = as_admin.post(
            "/tenants/acme/servers",
            data={
                "csrf_token": token,
                "location": location,
                "plan": plan,
                "mail_hostname": host,
                "submission_key": "prov-12345678",
            },
            follow_redirects=True,
        )
        assert 'class="flash error"' in response.get_data(as_text=True)
    assert counts() == before
    assert db.session.execute(select(func.count()).select_from(Server)).scalar_one() == 0


def test_double_submitted_form_makes_one_run(as_admin, world, hostwinds):
    token = csrf_token(as_admin, "/tenants/acme")
    data = {
        "csrf_token": token,
        "location": "Seattle",
        "plan": "101",
        "mail_hostname": "mail.acme.example",
        "submission_key": "prov-abcdef12",
    }
    first = as_admin.post("/tenants/acme/servers", data=data)
    second = as_admin.post("/tenants/acme/servers", data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.execute(select(func.count()).select_from(Run)).scalar_one() == 1
    assert db.session.execute(select(func.count()).select_from(Server)).scalar_one() == 1
    run = db.session.execute(select(Run)).scalar_one()
    assert run.extravars == {
        "mailfleet_tenant": "acme",
        "mailfleet_provider": "hostwinds",
        "server_location": "Seattle",
        "server_plan": "101",
        "server_index": 1,
        "mail_hostname": "mail.acme.example",
    }


def test_api_rejects_malformed_payloads(client, world):
    from webapp.services import accounts

    token = accounts.issue_api_token(world.admin)
    headers = {"Authorization": f"Bearer {token}"}
    before = counts()
    for payload in ("not json", [], {"slug": 5, "name": "x"}, {"slug": "ok-slug", "name": "x" * 1000}):
        kwargs = {"data": payload} if isinstance(payload, str) else {"json": payload}
        response = client.post("/api/v1/tenants", headers=headers, **kwargs)
        assert response.status_code == 422 and response.get_json()["error"].startswith("invalid input: ")
    assert (
        client.post("/api/v1/tenants/acme/runs", headers=headers, json={"playbook": "provision"}).status_code
        == 400
    )
    assert counts() == before


def test_api_idempotency_key(client, world):
    from webapp.services import accounts

    headers = {
        "Authorization": f"Bearer {accounts.issue_api_token(world.admin)}",
        "Idempotency-Key": "api-key-0001",
    }
    first = client.post("/api/v1/tenants/acme/runs", headers=headers, json={"playbook": "site"})
    second = client.post("/api/v1/tenants/acme/runs", headers=headers, json={"playbook": "site"})
    assert first.status_code == second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
