"""The acceptance path in a real browser (Debian's Chromium through Playwright), on the testbed:
an admin creates a tenant, provisions a server (Hostwinds double booting a real testbed host,
playbooks/provision.yml), watches the live log reach success, creates 10 mailboxes; then a member
of another tenant logs in and sees none of it. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import secrets
import socket
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
PROVISION_TIMEOUT_MS = 20 * 60 * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: dict, method: str = "POST") -> None:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback double
        pass


@pytest.fixture
def stack(testbed, tmp_path):
    from testbed.demo import seed_hostwinds_key
    from testbed.stack import Stack

    for name in ("hostwinds", "mailu"):
        testbed.start_double(name)
    post_json(f"{testbed.double_url('mailu')}/_double/reset", {})  # mailboxes of an earlier session
    stack = Stack(testbed, tmp_path / "stack", free_port())
    stack.data_dir.mkdir(parents=True, mode=0o700)
    seed_hostwinds_key(testbed, stack)
    stack.up()
    yield stack
    stack.down()


def login(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$|.*/tenants/.*"))


def test_admin_provisions_and_creates_mailboxes_other_tenant_sees_nothing(testbed, stack, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    admin_pw, member_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    assert (
        stack.flask(
            "create-admin",
            "--email",
            "admin@mailfleet.test",
            extra_env={"MAILFLEET_ADMIN_PASSWORD": admin_pw},
        ).returncode
        == 0
    )
    base = stack.url
    page = browser.new_page(viewport={"width": 1360, "height": 900})

    login(page, base, "admin@mailfleet.test", admin_pw)
    page.goto(f"{base}/tenants/")
    page.fill("#new-tenant input[name=slug]", "acme")
    page.fill("#new-tenant input[name=name]", "Acme Corp")
    page.click("#new-tenant button[type=submit]")
    page.wait_for_url(f"{base}/tenants/acme")
    page.goto(f"{base}/tenants/")
    page.fill("#new-tenant input[name=slug]", "globex")
    page.fill("#new-tenant input[name=name]", "Globex")
    page.click("#new-tenant button[type=submit]")
    page.wait_for_url(f"{base}/tenants/globex")
    page.fill("#member-form input[name=email]", "bob@globex.test")
    page.fill("#member-form input[name=password]", member_pw)
    page.click("#member-form button[type=submit]")

    # Provision a server: the live log must reach success.
    page.goto(f"{base}/tenants/acme")
    page.select_option("#provision-form select[name=location]", "Seattle")
    page.select_option("#provision-form select[name=plan]", "101")
    page.fill("#provision-form input[name=mail_hostname]", "mail.acme.example.test")
    page.click("#provision-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    page.wait_for_selector(
        "#run-status .badge.s-successful, #run-status .badge.s-failed", timeout=PROVISION_TIMEOUT_MS
    )
    page.screenshot(path=str(SHOTS / "run.png"), full_page=True)
    assert page.inner_text("#run-status") == "successful", page.inner_text("#log")[-3000:]
    assert "PLAY RECAP" in page.inner_text("#log")
    assert page.locator("#recap table tr.good").count() >= 1

    # The new server's Mailu (what the mailu role's deployment registers) and its first domain.
    mailu = testbed.double_url("mailu")
    from mailfleet.secrets import get_store, tenant_path

    token = get_store(stack.env()).get_field(tenant_path("acme", "mailu"), "api_token")
    post_json(
        f"{mailu}/_double/servers/mail.acme.example.test",
        {
            "api_token": token,
            "domain": "acme.example.test",
            "initial_admin_account": "admin",
            "initial_admin_domain": "acme.example.test",
            "initial_admin_pw": secrets.token_urlsafe(16),
        },
        "PUT",
    )
    page.goto(f"{base}/tenants/acme")
    page.fill("#domain-form input[name=name]", "acme.example.test")
    page.click("#domain-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))

    page.goto(f"{base}/tenants/acme")
    page.fill("#mailbox-form textarea[name=local_parts]", "\n".join(f"user{n}" for n in range(10)))
    page.click("#mailbox-form button[type=submit]")
    page.wait_for_selector("#created-mailboxes, .flash.error, #not-created")
    assert page.locator(".flash.error, #not-created").count() == 0, page.inner_text("main")
    assert page.locator("#created-mailboxes tbody tr").count() == 10
    page.screenshot(path=str(SHOTS / "mailboxes.png"), full_page=True)
    page.goto(f"{base}/")
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.goto(f"{base}/tenants/acme")
    page.screenshot(path=str(SHOTS / "tenant.png"), full_page=True)
    page.close()

    # A member of another tenant sees none of it.
    other = browser.new_page(viewport={"width": 1360, "height": 900})
    login(other, base, "bob@globex.test", member_pw)
    for url in ("/", "/servers", "/runs", "/tenants/globex"):
        other.goto(f"{base}{url}")
        text = other.inner_text("main")
        assert "mf-acme-1" not in text and "acme.example.test" not in text and "user3@" not in text
    assert other.goto(f"{base}/tenants/acme").status == 404
    assert other.goto(f"{base}/runs/1").status == 404
    other.screenshot(path=str(SHOTS / "other-tenant-dashboard.png"), full_page=True)
