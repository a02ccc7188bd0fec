"""Journeys on one provisioned testbed host, shared by the tests of this module in their order:

1. a new admin, in a real browser (Debian's Chromium through Playwright) against the Stack (the web
   app, the workers and one `rq cron`): creates a tenant, provisions a server (the Hostwinds double
   boots a real testbed host), adds a domain, sees the health board filled by the scheduler's sweep,
   creates mailboxes and deletes one; a member of another tenant sees none of it;
2. an engineer, from a fresh `git clone`, runs the README's command
   (`ansible-playbook -i inventory/<name>.hostwinds.yml playbooks/site.yml -l tenant_<slug>`) against
   the Hostwinds double's inventory, green, with no host variables written by hand;
3. the scheduler alone (`rq cron` and the workers, nobody clicking) renews the host's certificate
   once it is near expiry, as a system run;
4. the admin removes the domain (off Mailu and DNS, the main domain kept); the server breaks (its
   Postfix stops) and "Check now" raises an alert; the admin deprovisions the server (cancelled at
   the provider, its host stopped, its records gone), which resolves its alerts and leaves the
   health pages.

Each step asserts what the user sees: page text, DNS answers of the testbed's BIND, files on the host.
Screenshots go to artifacts/screenshots/ (tests/guide_pages.py: those the guide shows)."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.reversename
import pytest
from chromium import create_tenant, login, order_server
from guide_pages import shoot

pytestmark = [pytest.mark.testbed, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_MS = 20 * 60 * 1000
# The Stack's scheduler sweeps every minute (MAILFLEET_HEALTH_SWEEP_SECONDS); one sweep after the
# domain exists, with room for a busy machine.
SWEEP_WAIT_S = 4 * 60
# An alert opens after 3 failing results in a row (the default policy); presses to try, with room
# for a busy machine (the loop ends as soon as the alert is open).
CHECKS_TO_ALERT = 6
CHECK_WAIT_S = 5 * 60
TENANT, OTHER = "acme", "globex"
MAIL_HOST = "mail.acme.example.test"
MAIN_DOMAIN = "acme.example.test"
DOMAIN = "acme-shop.example.test"  # a second domain: the main one goes only with the server
ADMIN = "admin@mailfleet.test"
MEMBER = "bob@globex.test"


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


def served(testbed, name: str, rtype: str) -> list[str]:
    """What the testbed's BIND primary answers for name/rtype."""
    query = dns.message.make_query(name, rtype)
    response, _ = dns.query.udp_with_fallback(query, testbed.dns.primary, port=testbed.dns.port, timeout=3)
    wanted = dns.rdatatype.from_text(rtype)
    return sorted(r.to_text() for rrset in response.answer if rrset.rdtype == wanted for r in rrset)


def mailu_domains(testbed, journey) -> set[str]:
    """The domains the server's Mailu (the double's API) serves."""
    from mailfleet.secrets import get_store, tenant_path

    token = get_store(journey.stack.env()).get_field(tenant_path(TENANT, "mailu"), "api_token")
    request = urllib.request.Request(
        f"{testbed.double_url('mailu')}/{MAIL_HOST}/api/v1/domain",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback double
        return {d["name"] for d in json.load(answer)}


def hostwinds(journey):
    """The provider's API as the control plane sees it (the Hostwinds double)."""
    from mailfleet.hostwinds.client import HostwindsClient
    from mailfleet.secrets import HOSTWINDS_PATH, get_store

    env = journey.stack.env()
    return HostwindsClient(get_store(env).get_field(HOSTWINDS_PATH, "api_key"), env["HOSTWINDS_API_URL"])


class Journey:
    """What the steps hand on to the next: the Stack, passwords, and the server once provisioned."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.admin_pw = secrets.token_urlsafe(16)
        self.member_pw = secrets.token_urlsafe(16)
        self.server_ip: str | None = None

    def need_server(self) -> str:
        if not self.server_ip:
            pytest.fail("the admin journey did not provision the server this step needs")
        return self.server_ip


@pytest.fixture(scope="module")
def journey(testbed, tmp_path_factory):
    from testbed.demo import seed_hostwinds_key
    from testbed.stack import Stack

    for name in ("hostwinds", "mailu"):
        testbed.start_double(name)
    post_json(f"{testbed.double_url('mailu')}/_double/reset", {})  # mailboxes of an earlier session
    stack = Stack(testbed, tmp_path_factory.mktemp("stack") / "data", free_port())
    stack.data_dir.mkdir(parents=True, mode=0o700)
    seed_hostwinds_key(testbed, stack)
    stack.up()
    journey = Journey(stack)
    created = stack.flask(
        "create-admin", "--email", ADMIN, extra_env={"MAILFLEET_ADMIN_PASSWORD": journey.admin_pw}
    )
    assert created.returncode == 0, created.stderr
    yield journey
    stack.down()


def wait_run(page, what: str) -> None:
    """On a run page: wait for the live status to settle; it must be successful."""
    page.wait_for_selector(
        "#run-status .badge.s-successful, #run-status .badge.s-failed", timeout=RUN_TIMEOUT_MS
    )
    shoot(page, f"run-{what}")
    assert page.inner_text("#run-status") == "successful", f"{what}: {page.inner_text('#log')[-3000:]}"


def confirm(page, link) -> None:
    """Follow a lifecycle link, type the name the page asks for, confirm."""
    link.click()
    page.wait_for_selector("#confirm-form")
    page.fill("#confirm-form input[name=confirm]", page.inner_text("#confirm-form code"))
    page.click("#confirm-form button[type=submit]")


def test_new_admin_provisions_adds_a_domain_sees_health_and_mailboxes(testbed, journey, browser):
    base = journey.stack.url
    page = login(browser, base, ADMIN, journey.admin_pw)
    for slug, name in ((TENANT, "Acme Corp"), (OTHER, "Globex")):
        create_tenant(page, base, slug, name)
    page.fill("#member-form input[name=email]", MEMBER)
    page.fill("#member-form input[name=password]", journey.member_pw)
    page.click("#member-form button[type=submit]")

    # Provision from the provider's offers.
    order_server(page, base, TENANT, MAIL_HOST)
    wait_run(page, "provision")
    assert "PLAY RECAP" in page.inner_text("#log")
    page.goto(f"{base}/tenants/{TENANT}")
    row = page.locator("#servers tbody tr", has_text="mf-acme-1")
    assert "active" in row.inner_text(), row.inner_text()
    journey.server_ip = row.locator("td").nth(2).inner_text().strip()

    # The new server's Mailu (what the mailu role's deployment registers) and a second domain.
    from mailfleet.secrets import get_store, tenant_path

    token = get_store(journey.stack.env()).get_field(tenant_path(TENANT, "mailu"), "api_token")
    post_json(
        f"{testbed.double_url('mailu')}/_double/servers/{MAIL_HOST}",
        {
            "api_token": token,
            "domain": MAIN_DOMAIN,
            "initial_admin_account": "admin",
            "initial_admin_domain": MAIN_DOMAIN,
            "initial_admin_pw": secrets.token_urlsafe(16),
        },
        "PUT",
    )
    page.fill("#domain-form input[name=name]", DOMAIN)
    page.click("#domain-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "add-domain")
    domain_done = page.inner_text("#run-finished").strip()
    assert served(testbed, DOMAIN, "MX") == [f"10 {MAIL_HOST}."]
    assert served(testbed, MAIL_HOST, "A") == [journey.server_ip]
    page.goto(f"{base}/tenants/{TENANT}")
    domain_row = page.locator("#domains tbody tr", has_text=DOMAIN)
    assert "active" in domain_row.inner_text(), domain_row.inner_text()

    # The scheduler's next sweep (nobody presses "Check now") fills the board: the checks at the
    # mail host name pass; whatever the testbed cannot make pass says why.
    page.goto(f"{base}/health")
    page.click("a:has-text('mf-acme-1')")
    deadline = time.monotonic() + SWEEP_WAIT_S
    while time.monotonic() < deadline:
        checked = re.search(r"last checked (\S+ \S+)", page.inner_text(".h-head"))
        if checked and checked.group(1) > domain_done:
            break
        time.sleep(10)
        page.reload()
    shoot(page, "health")
    rows = {
        r.get_attribute("data-check"): (
            r.get_attribute("data-status"),
            r.locator(".h-detail").inner_text().strip(),
        )
        for r in page.locator("tr.h-row").all()
    }
    assert rows, f"no sweep results within {SWEEP_WAIT_S}s: {page.inner_text('main')[:2000]}"
    for check in (f"dns:a:{MAIL_HOST}", f"mx:{DOMAIN}", f"spf:{DOMAIN}", f"dmarc:{DOMAIN}",
                  f"ptr:{journey.server_ip}", "tls:25"):
        assert rows.get(check, ("missing",))[0] == "ok", (check, rows)
    unexplained = [check for check, (status, detail) in rows.items() if status != "ok" and not detail]
    assert not unexplained, rows

    # Mailboxes: ten created, one deleted.
    page.goto(f"{base}/tenants/{TENANT}")
    page.select_option("#mailbox-form select[name=domain_id]", label=DOMAIN)
    page.fill("#mailbox-form textarea[name=local_parts]", "\n".join(f"user{n}" for n in range(10)))
    # The testbed cannot make every DNS check pass (see the board above): the admin overrides the
    # DNS readiness gate, which the domain records.
    page.check("#mailbox-form input[name=dns_override]")
    page.click("#mailbox-form button[type=submit]")
    page.wait_for_selector("#created-mailboxes, .flash.error, #not-created")
    assert page.locator(".flash.error, #not-created").count() == 0, page.inner_text("main")
    assert page.locator("#created-mailboxes tbody tr").count() == 10
    page.goto(f"{base}/tenants/{TENANT}")
    confirm(page, page.locator("#mailboxes li", has_text=f"user3@{DOMAIN}").locator("a.danger"))
    page.wait_for_url(re.compile(rf"{base}/tenants/{TENANT}.*"))
    mailboxes = page.inner_text("#mailboxes")
    assert f"user3@{DOMAIN}" not in mailboxes and f"user4@{DOMAIN}" in mailboxes, mailboxes
    shoot(page, "tenant")

    page.goto(f"{base}/")
    dashboard = page.inner_text("main")
    shoot(page, "dashboard")
    assert "mf-acme-1" in dashboard or TENANT in dashboard, dashboard[:2000]
    page.goto(f"{base}/runs?trigger=schedule")
    system_runs = page.inner_text("main section.card:has(table)")
    shoot(page, "runs-system")
    assert "health_facts.yml" in system_runs and "provision.yml" not in system_runs, system_runs[:2000]
    page.close()

    # A member of another tenant sees none of it.
    other = login(browser, base, MEMBER, journey.member_pw)
    for url in ("/", "/servers", "/runs", "/health", f"/tenants/{OTHER}"):
        other.goto(f"{base}{url}")
        text = other.inner_text("main")
        assert "mf-acme-1" not in text and DOMAIN not in text and "user4@" not in text, (url, text[:2000])
    assert other.goto(f"{base}/tenants/{TENANT}").status == 404
    assert other.goto(f"{base}/runs/1").status == 404
    shoot(other, "other-tenant-dashboard")
    other.close()


def test_engineer_runs_site_from_a_fresh_clone(testbed, journey, ansible_env, tmp_path):
    server_ip = journey.need_server()
    clone = tmp_path / "mailfleet"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    # The README's engineer setup: an inventory of the provider, the deployment's site variables.
    (clone / "inventory" / "journey.hostwinds.yml").write_text(
        "plugin: mailfleet.fleet.hostwinds\n"
        f"api_url: {journey.stack.env()['HOSTWINDS_API_URL']}\n"
        "api_key: \"{{ lookup('mailfleet.fleet.secret', 'global/hostwinds', field='api_key') }}\"\n"
        "compose:\n  ansible_user: \"'root'\"\n"
    )
    site_vars = Path(journey.stack.env()["MAILFLEET_SITE_VARS_FILE"])
    (clone / "inventory" / "group_vars" / "all" / "site.yml").write_text(site_vars.read_text())
    stack_env = journey.stack.env()
    env = {
        **ansible_env,
        "ANSIBLE_CONFIG": str(clone / "ansible.cfg"),
        **{
            k: stack_env[k]
            for k in ("MAILFLEET_SECRETS_FILE", "MAILFLEET_MASTER_KEY_FILE", "MAILFLEET_MAILU_URL")
        },
    }
    agent = subprocess.run(
        ["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")], capture_output=True, text=True
    )
    env["SSH_AUTH_SOCK"] = str(tmp_path / "agent.sock")
    agent_pid = re.search(r"SSH_AGENT_PID=(\d+)", agent.stdout).group(1)
    try:
        added = subprocess.run(
            [sys.executable, "-m", "mailfleet.secrets", "ssh-add", TENANT],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        play = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                "inventory/journey.hostwinds.yml",
                "playbooks/site.yml",
                "-l",
                f"tenant_{TENANT}",
            ],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_MS // 1000,
        )
    finally:
        os.kill(int(agent_pid), 15)
    recap = play.stdout[play.stdout.rfind("PLAY RECAP") :]
    assert play.returncode == 0, (play.stdout[-4000:], play.stderr[-2000:])
    assert re.search(r"mf-acme-1\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", recap), recap
    # The host shows the result: Mailu's settings for the mail host, and its records in DNS.
    host = next(h for h in testbed.hosts() if h.address == server_ip)
    settings = host.ssh("cat /mailu/mailu.env").stdout
    assert f"HOSTNAMES={MAIL_HOST}" in settings and f"DOMAIN={MAIN_DOMAIN}" in settings, settings
    assert served(testbed, MAIN_DOMAIN, "MX") == [f"10 {MAIL_HOST}."]


def test_scheduler_renews_a_near_expiry_certificate(testbed, journey, browser):
    """The renewal is daily from `rq cron`, first at its start: the cron is restarted (as a deploy
    does) after the host's certificate was re-dated to 10 days left, with its key and names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from selfsigned import expiring

    from testbed.daemons import Recorded, stop

    server_ip = journey.need_server()
    host = next(h for h in testbed.hosts() if h.address == server_ip)
    current = x509.load_pem_x509_certificates(host.ssh("cat /mailu/certs/cert.pem").stdout.encode())[0]
    key = serialization.load_pem_private_key(host.ssh("cat /mailu/certs/key.pem").stdout.encode(), None)
    names = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    pem = expiring(key, names.get_values_for_type(x509.DNSName), days_left=10, common_name=MAIL_HOST)
    host.ssh(f"printf '%s' '{pem}' > /mailu/certs/cert.pem")

    stack = journey.stack
    with stack.tb.state.locked() as state:
        cron = state["processes"].pop("stack-cron")
    stop(Recorded.from_json(cron), timeout=20)
    stack.up()

    base = stack.url
    page = login(browser, base, ADMIN, journey.admin_pw)
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    renewal = page.locator("tr", has_text="renew_certificates.yml")
    while time.monotonic() < deadline:
        page.goto(f"{base}/runs?trigger=schedule")
        if renewal.count() and re.search(r"successful|failed", renewal.first.inner_text()):
            break
        time.sleep(10)
    shoot(page, "runs-system-renewal")
    assert renewal.count(), page.inner_text("main")[:2000]
    row = renewal.first.inner_text()
    assert "system" in row and "successful" in row, row
    renewal.first.locator("a").first.click()
    assert "the scheduler (a system run)" in page.inner_text("#run-by")
    page.close()
    renewed = x509.load_pem_x509_certificates(host.ssh("cat /mailu/certs/cert.pem").stdout.encode())[0]
    assert renewed.not_valid_after_utc - datetime.now(UTC) > timedelta(days=30)
    assert renewed.issuer != renewed.subject  # from the ACME CA, not the re-dated one


def test_admin_removes_the_domain_and_deprovisions(testbed, journey, browser):
    server_ip = journey.need_server()
    base = journey.stack.url
    page = login(browser, base, ADMIN, journey.admin_pw)
    page.goto(f"{base}/tenants/{TENANT}")
    main_mx = served(testbed, MAIN_DOMAIN, "MX")
    confirm(page, page.locator("#domains tbody tr", has_text=DOMAIN).locator("a.danger"))
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "remove-domain")
    assert served(testbed, DOMAIN, "MX") == [] and served(testbed, f"_dmarc.{DOMAIN}", "TXT") == []
    assert served(testbed, MAIN_DOMAIN, "MX") == main_mx  # the main domain stays
    left_on_mailu = mailu_domains(testbed, journey)
    assert DOMAIN not in left_on_mailu and MAIN_DOMAIN in left_on_mailu, left_on_mailu
    page.goto(f"{base}/tenants/{TENANT}")
    assert DOMAIN not in page.inner_text("#domains"), page.inner_text("#domains")
    assert f"user4@{DOMAIN}" not in page.inner_text("#mailboxes")

    alert_url = break_and_see_an_alert(testbed, page, base, server_ip)
    page.goto(f"{base}/tenants/{TENANT}")
    confirm(page, page.locator("#servers tbody tr", has_text="mf-acme-1").locator("a.danger"))
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "deprovision")
    deprovision_run = re.search(r"/runs/(\d+)", page.url).group(1)
    assert served(testbed, MAIL_HOST, "A") == []
    assert served(testbed, dns.reversename.from_address(server_ip).to_text(), "PTR") == []
    assert served(testbed, MAIN_DOMAIN, "MX") == [] and served(testbed, f"_dmarc.{MAIN_DOMAIN}", "TXT") == []
    assert hostwinds(journey).find_instance("mf-acme-1") is None  # cancelled at the provider
    assert "mf-acme-1" not in testbed.state.read()["hosts"]  # and its host stopped
    page.goto(f"{base}/tenants/{TENANT}")
    servers = page.inner_text("#servers")
    assert "No servers yet." in servers and server_ip not in servers, servers
    # Its alerts resolved with the reason, and the health pages no longer list it.
    page.goto(f"{base}/health")
    assert "mf-acme-1" not in page.inner_text("main"), page.inner_text("main")
    page.goto(f"{base}/health/alerts?state=open")
    assert "mf-acme-1" not in page.inner_text("main"), page.inner_text("main")
    page.goto(alert_url)
    shoot(page, "alert-resolved")
    assert page.inner_text("#alert-state") == "resolved"
    timeline = page.inner_text(".h-timeline")
    assert f"mf-acme-1 was deprovisioned (run {deprovision_run})" in timeline, timeline
    page.goto(f"{base}/runs?trigger=user")
    runs = page.inner_text("main section.card:has(table)")
    shoot(page, "runs-user")
    for playbook in ("provision.yml", "remove_domain.yml", "deprovision.yml"):
        assert playbook in runs, runs[:2000]
    page.close()


def break_and_see_an_alert(testbed, page, base: str, server_ip: str) -> str:
    """Stop the server's Postfix, press "Check now" on its board until an alert opens (each press
    is one more failing result); returns the alert's page."""
    host = next(h for h in testbed.hosts() if h.address == server_ip)
    host.ssh("systemctl stop postfix")
    page.goto(f"{base}/health")
    page.click("a:has-text('mf-acme-1')")
    board = page.url
    opened = page.locator("tr.h-row[data-check^='port:25@'] a.h-state-open")
    for _ in range(CHECKS_TO_ALERT):
        if opened.count():
            break
        before = page.locator(".h-head time").get_attribute("datetime")
        page.click("#check-now-form button[type=submit]")
        deadline = time.monotonic() + CHECK_WAIT_S
        while time.monotonic() < deadline:
            page.goto(board)
            if page.locator(".h-head time").get_attribute("datetime") != before:
                break
            time.sleep(3)
    shoot(page, "health-alert")
    assert opened.count(), page.inner_text("main")[:3000]
    alert_url = base + opened.first.get_attribute("href")
    page.goto(f"{base}/health/alerts?state=open")
    assert "mf-acme-1" in page.inner_text("main")
    return alert_url
