"""The "free mailbox" feature against the Mailu double: created on the tenant's Mailu, recorded,
passwords shown once and stored nowhere."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Mailbox
from webapp.services import accounts
from webapp.testing import csrf_token

pytestmark = pytest.mark.unit


def test_create_ten_mailboxes_from_the_form(as_admin, mailu, tmp_path):
    mail_server, domain = mailu
    token = csrf_token(as_admin, "/tenants/acme")
    names = "\n".join(f"user{n}" for n in range(10))
    response = as_admin.post(
        "/tenants/acme/mailboxes",
        data={"csrf_token": token, "domain_id": domain.id, "local_parts": names, "quota_mb": "100"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    passwords = re.findall(r"<td><code>([^<]+)</code></td>", page)
    assert len(passwords) == 10 and len(set(passwords)) == 10
    assert all(len(p) >= 16 for p in passwords)
    emails = {f"user{n}@acme-mail.example" for n in range(10)}
    assert emails <= set(mail_server.users)  # really created on Mailu
    assert set(db.session.execute(select(Mailbox.email)).scalars()) == emails
    assert db.session.execute(select(Mailbox.quota_bytes)).scalars().first() == 100 * 1024 * 1024
    # Shown once: the tenant page lists the mailboxes, never a password.
    later = as_admin.get("/tenants/acme").get_data(as_text=True)
    assert "user3@acme-mail.example" in later and not any(p in later for p in passwords)
    db.session.remove()
    db.engine.dispose()
    blobs = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "store.enc")
    assert not any(p.encode() in blobs for p in passwords)


def test_bad_mailbox_names_send_nothing(as_admin, mailu):
    mail_server, domain = mailu
    token = csrf_token(as_admin, "/tenants/acme")
    for names in ("good\nbad(name", "{{7*7}}", "a" * 65, "dup\ndup", "\n".join(f"u{n}" for n in range(101))):
        response = as_admin.post(
            "/tenants/acme/mailboxes",
            data={"csrf_token": token, "domain_id": domain.id, "local_parts": names},
            follow_redirects=True,
        )
        assert 'class="flash error"' in response.get_data(as_text=True)
    assert mail_server.users == {} or all(u.startswith("admin") for u in mail_server.users)
    assert db.session.execute(select(Mailbox.id)).first() is None


def test_api_creates_mailboxes_and_other_tenants_cannot(client, world, mailu):
    mail_server, _domain = mailu
    alice = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    bob = {"Authorization": f"Bearer {accounts.issue_api_token(world.bob)}"}
    body = {"domain": "acme-mail.example", "names": ["sales"]}
    assert client.post("/api/v1/tenants/acme/mailboxes", headers=bob, json=body).status_code == 404
    response = client.post("/api/v1/tenants/acme/mailboxes", headers=alice, json=body)
    assert response.status_code == 201
    created = response.get_json()["created"]
    assert created[0]["email"] == "sales@acme-mail.example" and len(created[0]["password"]) >= 16
    assert "sales@acme-mail.example" in mail_server.users
    listed = client.get("/api/v1/tenants/acme/mailboxes", headers=alice).get_json()
    assert [m["email"] for m in listed] == ["sales@acme-mail.example"] and "password" not in listed[0]
    # Existing mailbox: refused before Mailu is called.
    again = client.post("/api/v1/tenants/acme/mailboxes", headers=alice, json=body)
    assert again.status_code == 400 and "already exist" in again.get_json()["error"]
