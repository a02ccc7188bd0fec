"""Journey: what an admin sees on the costs pages across ordering a server and resizing it, in a
real browser against the Stack (web app, workers, one `rq cron`), with the Hostwinds double booting
a real testbed host for the order:

1. the admin orders a server for a new tenant: at once the costs page counts its plan's monthly
   price as the tenant's run rate; once provisioned, the tenant's costs page lists the server;
2. a budget far under the run rate shows the date the budget is reached;
3. from the server's usage page the admin resizes it to the next plan: the confirmation shows the
   difference in dollars a month, and the budget refuses it, saying how to go on;
4. the admin raises the budget and resizes: the run goes through the double's upgrade flow, and the
   costs page shows the new plan and price, a bar of the month's cost; the server's usage page
   draws the host's samples and downloads them as CSV;
5. the admin sets the tenant's auto-scaling policy: one whose max plan is under the server's plan
   is refused with why, a good one is shown;
6. a member of another tenant sees none of it, and reads its own tenant's policy;
7. the tenant orders a second server at DigitalOcean: provisioned, configured by a domain's run,
   priced beside the first, monitored, and exported to Terraform as a droplet beside the Hostwinds
   server; the domain's secondary MX is the Hostwinds server, in the other region, which the same
   run configures;
8. with the droplet's SMTP stopped, mail for the domain goes to the secondary MX, waits in its
   queue, and reaches the mailbox on the droplet once its SMTP is back.

Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import secrets
import smtplib
from pathlib import Path

import pytest
from controlplane import free_port
from guide_pages import shoot
from polling import wait_for
from test_new_admin import login, post_json, served, wait_run

pytestmark = [pytest.mark.testbed, pytest.mark.browser]

TENANT, OTHER = "initech", "umbrella"
SERVER = f"mf-{TENANT}-1"
DROPLET = f"mf-{TENANT}-2"  # the tenant's second server, at the second provider
DROPLET_HOST, DROPLET_MAIN, DROPLET_DOMAIN = "mail.initech-eu.example.test", "initech-eu.example.test", \
    "initech-shop.example.test"
SERVER_HOST, SERVER_MAIN = f"mail.{TENANT}.example.test", f"{TENANT}.example.test"
ADMIN, MEMBER = "admin@costs.test", "carol@umbrella.test"


@pytest.fixture(scope="module")
def stack(testbed, tmp_path_factory):
    from mailfleet.secrets import get_store
    from testbed.demo import seed_digitalocean_token, seed_hostwinds_key
    from testbed.stack import Stack

    for double in ("hostwinds", "digitalocean", "mailu"):
        testbed.start_double(double)
    stack = Stack(testbed, tmp_path_factory.mktemp("stack") / "data", free_port(),
                  providers=("hostwinds", "digitalocean"))
    stack.data_dir.mkdir(parents=True, mode=0o700)
    seed_hostwinds_key(testbed, stack)
    seed_digitalocean_token(get_store(stack.env()))
    stack.up()
    stack.passwords = {ADMIN: secrets.token_urlsafe(16), MEMBER: secrets.token_urlsafe(16)}
    created = stack.flask(
        "create-admin", "--email", ADMIN, extra_env={"MAILFLEET_ADMIN_PASSWORD": stack.passwords[ADMIN]}
    )
    assert created.returncode == 0, created.stderr
    yield stack
    stack.down()
    for server in (SERVER, DROPLET):
        testbed.stop_host(server)


def costs_row(page, base: str, slug: str) -> str:
    page.goto(f"{base}/costs/")
    return page.locator("table.costs tbody tr", has_text=slug).inner_text()


def test_admin_sees_a_new_server_in_costs_and_resizes_it(testbed, stack, browser):
    base = stack.url
    page = login(browser, base, ADMIN, stack.passwords[ADMIN])
    for slug, name in ((TENANT, "Initech"), (OTHER, "Umbrella")):
        page.goto(f"{base}/tenants/")
        page.fill("#new-tenant input[name=slug]", slug)
        page.fill("#new-tenant input[name=name]", name)
        page.click("#new-tenant button[type=submit]")
        page.wait_for_url(f"{base}/tenants/{slug}")
    page.fill("#member-form input[name=email]", MEMBER)
    page.fill("#member-form input[name=password]", stack.passwords[MEMBER])
    page.click("#member-form button[type=submit]")

    # 1. The order: its price counts at once, before the server is built.
    page.goto(f"{base}/tenants/{TENANT}")
    page.select_option("#provision-form select[name=location]", "Seattle")
    page.select_option("#provision-form select[name=plan]", "101")  # Unmetered SSD VPS 1 GB, $4.99
    page.fill("#provision-form input[name=mail_hostname]", SERVER_HOST)
    page.click("#provision-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    run_page = page.url
    ordered = costs_row(page, base, TENANT)
    assert "$4.99" in ordered, ordered  # the run rate a month
    assert "$0.00" in costs_row(page, base, OTHER)
    page.goto(run_page)
    wait_run(page, "costs-provision")
    page.goto(f"{base}/costs/{TENANT}")
    servers = page.inner_text("table.costs")
    assert SERVER in servers and "$4.99" in servers, servers

    # 2. A budget under the run rate: the page says when it is reached.
    page.fill("input[name=budget]", "0.01")
    page.click("button:has-text('Save budget')")
    page.wait_for_selector(".flash.success")
    head = page.inner_text("main")
    assert "of the $0.01 budget" in head and "the $0.01 budget is reached on" in head, head[:2000]
    shoot(page, "costs-tenant")

    # 3. Resize from the usage page, confirming the difference in dollars a month.
    page.click(f"table.costs a:has-text('{SERVER}')")
    page.wait_for_selector("#capacity")
    assert "Recommendation" in page.inner_text("#capacity")
    shoot(page, "usage")
    page.select_option("#capacity select[name=plan]", "102")  # Unmetered SSD VPS 2 GB, $9.99
    page.click("#capacity button:has-text('Resize')")
    page.wait_for_selector("#confirm-form")
    confirm_text = page.inner_text("#confirm")
    assert "+5.00 dollars a month" in confirm_text and "from $4.99 to $9.99" in confirm_text, confirm_text
    resize_page = page.url
    page.fill("#confirm-form input[name=confirm]", page.inner_text("#confirm-form code"))
    page.click("#confirm-form button[type=submit]")
    # The budget under the run rate refuses a change that raises it, and says how to go on.
    page.wait_for_selector(".flash.error")
    refused = page.inner_text(".flash.error")
    assert "past its $0.01 budget" in refused and "raise the budget" in refused, refused
    assert "/runs/" not in page.url, page.url

    # 4. The administrator raises the budget; the same resize is queued and runs.
    page.goto(f"{base}/costs/{TENANT}")
    page.fill("input[name=budget]", "50")
    page.click("button:has-text('Save budget')")
    page.wait_for_selector(".flash.success")
    page.goto(resize_page)
    page.fill("#confirm-form input[name=confirm]", page.inner_text("#confirm-form code"))
    page.click("#confirm-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "resize")
    assert "is active on Unmetered SSD VPS 2 GB, $9.99 a month (was $4.99)" in page.inner_text("#log")
    page.goto(f"{base}/costs/{TENANT}")
    resized = page.locator("table.costs tbody tr", has_text=SERVER).inner_text()
    assert "Unmetered SSD VPS 2 GB" in resized and "$9.99" in resized, resized
    assert "$9.99" in costs_row(page, base, TENANT)
    shoot(page, "costs-after-resize")
    # The tenant's costs page draws a bar a month, this one's to date.
    page.goto(f"{base}/costs/{TENANT}")
    assert page.locator("svg[aria-label='monthly cost'] rect").count() >= 1

    # 4b. The usage page draws the host's samples (the scheduler's facts run, then its usage
    # sampler, every 5 minutes) and downloads them as CSV.
    page.click(f"table.costs a:has-text('{SERVER}')")
    page.wait_for_selector("#capacity")
    usage_page = page.url

    def charted() -> int:
        page.goto(usage_page)
        return page.locator("section.chart-card svg polyline").count()

    wait_for(charted, 420, "the usage page's charts of the new server's samples", every=15)
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename == f"{SERVER}-usage-24h.csv"
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("time,resolution_s,samples,cpu_pct,mem_used_mb") and len(rows) >= 2, rows[:3]

    # 5. The auto-scaling policy: one that could never grow the server is refused and changes
    # nothing; a good one is kept and shown.
    page.goto(f"{base}/costs/{TENANT}")
    page.fill("#autoscale-policy-form input[name=max_plan]", "101")
    page.click("#autoscale-policy-form button:has-text('Save policy')")
    page.wait_for_selector(".flash.error")
    refused = page.inner_text(".flash.error")
    assert f"smaller than {SERVER}'s current plan Unmetered SSD VPS 2 GB" in refused, refused
    assert "the defaults" in page.inner_text("#autoscale h3")
    page.fill("#autoscale-policy-form input[name=cpu_p95_pct]", "70")
    page.fill("#autoscale-policy-form input[name=max_plan]", "103")
    page.fill("#autoscale-policy-form input[name=max_monthly_spend]", "40")
    page.click("#autoscale-policy-form button:has-text('Save policy')")
    page.wait_for_selector(".flash.success")
    policy = page.inner_text("#autoscale-policy")
    assert "CPU above 70 %" in policy and "Unmetered SSD VPS 4 GB" in policy, policy
    assert "$40.00 a month after a resize" in policy, policy
    page.close()

    # 6. Another tenant's member sees only its own costs, and reads its tenant's policy.
    other = login(browser, base, MEMBER, stack.passwords[MEMBER])
    other.goto(f"{base}/costs/")
    assert other.url.endswith(f"/costs/{OTHER}")
    assert SERVER not in other.inner_text("main") and TENANT not in other.inner_text("main")
    assert "the defaults" in other.inner_text("#autoscale h3")
    assert other.locator("#autoscale-policy-form").count() == 0
    assert other.goto(f"{base}/costs/{TENANT}").status == 404
    other.close()


def test_one_tenant_at_two_providers_is_provisioned_costed_monitored_and_exported(testbed, stack, browser):
    """7. The same tenant orders a second server at DigitalOcean (its double boots a real testbed host):
    the run provisions it as at Hostwinds, and adding a domain there configures it (site.yml) and,
    the droplet being in Europe, the Hostwinds server (United States) as the domain's secondary MX:
    MX 10 the droplet, 20 the Hostwinds server, shown on the tenant's page; the costs page prices
    both servers, the scheduler's sweep finds the droplet's mail ports open, and the
    Terraform export names both, each as its provider's."""
    import hcl2

    from mailfleet.secrets import get_store, tenant_path

    base = stack.url
    page = login(browser, base, ADMIN, stack.passwords[ADMIN])
    page.goto(f"{base}/tenants/{TENANT}")
    page.select_option("#provision-form select[name=provider]", "digitalocean")
    page.select_option("#provision-form select[name=location]", "fra1")
    page.select_option("#provision-form select[name=plan]", "s-1vcpu-1gb")  # $6.00 a month
    page.fill("#provision-form input[name=mail_hostname]", DROPLET_HOST)
    page.click("#provision-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "digitalocean-provision")

    page.goto(f"{base}/costs/{TENANT}")
    rows = {name: page.locator("table.costs tbody tr", has_text=name).inner_text()
            for name in (SERVER, DROPLET)}
    assert "$9.99" in rows[SERVER] and "$6.00" in rows[DROPLET], rows

    # Both servers' Mailu (what the mailu role's deployment registers), then a domain on the droplet:
    # the Hostwinds server (United States) becomes its secondary MX, the droplet being in Europe.
    token = get_store(stack.env()).get_field(tenant_path(TENANT, "mailu"), "api_token")
    for host, main in ((DROPLET_HOST, DROPLET_MAIN), (SERVER_HOST, SERVER_MAIN)):
        post_json(
            f"{testbed.double_url('mailu')}/_double/servers/{host}",
            {"api_token": token, "domain": main, "initial_admin_account": "admin",
             "initial_admin_domain": main, "initial_admin_pw": secrets.token_urlsafe(16)},
            "PUT",
        )
    page.goto(f"{base}/tenants/{TENANT}")
    page.select_option("#domain-form select[name=server_id]", label=DROPLET)
    page.fill("#domain-form input[name=name]", DROPLET_DOMAIN)
    page.click("#domain-form button[type=submit]")
    page.wait_for_url(re.compile(rf"{base}/runs/\d+"))
    wait_run(page, "digitalocean-domain")
    assert served(testbed, DROPLET_DOMAIN, "MX") == [f"10 {DROPLET_HOST}.", f"20 {SERVER_HOST}."]
    page.goto(f"{base}/tenants/{TENANT}")
    assert page.locator(f"tr:has-text('{DROPLET_DOMAIN}') td.domain-secondary-mx").get_attribute(
        "data-server") == SERVER

    def open_port_25() -> dict[str, str]:
        page.goto(f"{base}/health")
        page.click(f"a:has-text('{DROPLET}')")
        board = {r.get_attribute("data-check"): r.get_attribute("data-status")
                 for r in page.locator("tr.h-row").all()}
        port25 = {check: status for check, status in board.items() if check.startswith("port:25@")}
        return board if port25 and set(port25.values()) == {"ok"} else {}

    wait_for(open_port_25, 300, f"the sweep to find {DROPLET}'s port 25 open", every=15)

    export = page.request.get(f"{base}/tenants/{TENANT}/terraform")
    assert export.ok, export.status
    doc = hcl2.loads(export.text())
    # python-hcl2 keeps the quotes of quoted labels and keys.
    droplets = [label.strip('"') for block in doc["resource"] for kind, named in block.items()
                if kind.strip('"') == "digitalocean_droplet" for label in named]
    assert droplets == [DROPLET.replace("-", "_")], doc["resource"]
    hostwinds = [name.strip('"') for block in doc["locals"] for key, servers in block.items()
                 if key.strip('"') == "hostwinds_servers" for name in servers]
    assert hostwinds == [SERVER], doc["locals"]
    page.close()


def test_mail_waits_on_the_secondary_mx_while_the_primary_is_down(testbed, stack):
    """8. The droplet's Postfix stops. A sender's MTA tries the domain's MX hosts in order: the
    droplet (10) refuses the connection, the Hostwinds server (20) accepts the message for the
    domain and queues it; once the droplet's Postfix is back and the queue is retried, the message
    is in the mailbox on the droplet (IMAP)."""
    from integration.mail.mailtest import Imap, tls_context

    from mailfleet.mailu import MailuClient
    from mailfleet.secrets import get_store, tenant_path

    # A name of its own: the Mailu double keeps its mailboxes from an earlier session on this instance.
    mailbox, password = f"ops-{secrets.token_hex(3)}@{DROPLET_DOMAIN}", secrets.token_urlsafe(16)
    token = get_store(stack.env()).get_field(tenant_path(TENANT, "mailu"), "api_token")
    MailuClient(f"{testbed.double_url('mailu')}/{DROPLET_HOST}/api/v1", token).create_user(
        mailbox, password)
    primary, secondary = testbed.host(DROPLET), testbed.host(SERVER)
    subject, sender = f"held for the primary {secrets.token_hex(4)}", f"someone@{SERVER_MAIN}"
    primary.ssh("systemctl stop postfix")
    try:
        exchanges = sorted((int(pref), host.rstrip("."))
                           for pref, host in (r.split() for r in served(testbed, DROPLET_DOMAIN, "MX")))
        accepted_by = None
        for _, host in exchanges:  # what a sending MTA does: MX hosts by preference, next on failure
            (address,) = served(testbed, host, "A")
            try:
                with smtplib.SMTP(address, 25, local_hostname="mta.sender.example.test", timeout=30) as smtp:
                    smtp.sendmail(sender, [mailbox],
                                  f"From: {sender}\r\nTo: {mailbox}\r\nSubject: {subject}\r\n\r\nhello\r\n")
            except OSError:
                continue
            accepted_by = host
            break
        assert accepted_by == SERVER_HOST, exchanges
        queued = [json.loads(line) for line in secondary.ssh("postqueue -j").stdout.splitlines()]
        assert any(r["address"] == mailbox for m in queued for r in m["recipients"]), queued
    finally:
        primary.ssh("systemctl start postfix")

    def delivered() -> bool:
        secondary.ssh("postqueue -f")  # the queue's retry, now
        with Imap(primary.address, DROPLET_HOST, tls_context(testbed)) as imap:
            imap.login(mailbox, password)
            imap.select("INBOX", readonly=True)
            _, found = imap.search(None, "SUBJECT", f'"{subject}"')
            return bool(found[0].split())

    wait_for(delivered, 120, f"the queued message to reach {mailbox} on {DROPLET}", every=5)
    assert "recipients" not in secondary.ssh("postqueue -j").stdout
