"""Journey: a new tenant's first steps, following only the checklist on its tenant page, in a real
browser (Debian's Chromium through Playwright) against the session's control plane, served on
loopback, with its jobs run as the worker pool runs them.

1. The admin creates a tenant: its page shows the five steps, none ticked, and one link, the next
   step's, which opens the provisioning form. The journey does not order the server from there:
   ordering and converging one is what the session's converged servers went through already, by the
   same services the form calls.
2. A member of a tenant whose server was just provisioned and given its domain (the session's
   converged server "mb", nothing else done on it) logs in and, clicking only the checklist's next
   link each time: checks the domain's DNS until ready, creates a mailbox (the page shows its
   password once), reads the guide's section on the test message and sends one with that password;
   once the scheduler's facts run and sweep have counted it, every step is ticked and the checklist
   is gone. The mailbox logs in and receives the message over IMAP: a working mailbox.

Each step asserts what the member sees; the mailbox is deleted afterwards (the converged server is
shared with other tests)."""

from __future__ import annotations

import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from guide_pages import shoot
from test_new_admin import login

# The mail tests' clients (IMAP and SMTP checking the Pebble certificate), one copy: their folder is
# on the path only when pytest collects it too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "mail"))

pytestmark = [pytest.mark.testbed, pytest.mark.browser]

STEPS = ["server", "domain", "dns", "mailboxes", "test-message"]
LOCAL_PART = "first"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def served_plane(control_plane) -> Iterator[str]:
    """The session's control plane over plain http on loopback (a browser keeps its cookies there
    only when they are not Secure; the setting is put back afterwards)."""
    from werkzeug.serving import make_server

    app = control_plane["app"]
    patch = pytest.MonkeyPatch()
    patch.setitem(app.config, "SESSION_COOKIE_SECURE", False)
    patch.setitem(app.config, "REMEMBER_COOKIE_SECURE", False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        patch.undo()


def checklist(page) -> dict[str, bool]:
    """{step key: ticked} as the tenant page shows them."""
    items = page.locator("#first-steps li")
    return {
        (item.get_attribute("id") or "").removeprefix("step-"): item.get_attribute("data-done") == "yes"
        for item in items.all()
    }


def next_link(page, key: str):
    """The checklist's one link, which must be the step `key`'s."""
    links = page.locator("#first-steps a.next-step")
    assert links.count() == 1, page.inner_text("#first-steps")
    assert page.locator(f"#step-{key} a.next-step").count() == 1, (key, page.inner_text("#first-steps"))
    return links.first


def beside_the_browser(function, *args) -> None:
    """Call `function` in a thread of its own, as a worker process would: Playwright's sync API keeps
    an event loop running in this thread, and the DNS doctor and the sweep start their own."""
    failed: list[BaseException] = []

    def call() -> None:
        try:
            function(*args)
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def work_system_jobs(app) -> None:
    """Run the system queue's jobs (the DNS doctor's) as its worker does."""
    from controlplane import _ThreadWorker
    from rq.serializers import JSONSerializer

    from webapp.queue import get_system_queue

    queue = get_system_queue(app)
    worker = _ThreadWorker([queue], connection=queue.connection, serializer=JSONSerializer)
    beside_the_browser(lambda: worker.work(burst=True))


def delivered(server, context, address: str, password: str, timeout: float = 60.0) -> bool:
    """The message reached the mailbox's INBOX (IMAP, as its owner reads it) within `timeout`."""
    from mailtest import Imap

    deadline = time.monotonic() + timeout
    while True:
        with Imap(server.host.address, server.mail_host, context) as imap:
            imap.login(address, password)
            _, count = imap.select("INBOX", readonly=True)
        if int(count[0]) > 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(1)


def test_admin_sees_the_checklist_of_a_new_tenant(served_plane, browser):
    from webapp.models import Role
    from webapp.services import accounts

    base, slug = served_plane, f"new{secrets.token_hex(2)}"
    admin, password = f"admin-{slug}@mailfleet.test", secrets.token_urlsafe(16)
    accounts.create_user(admin, password, Role.ADMIN, None)
    page = login(browser, base, admin, password)
    page.goto(f"{base}/tenants/")
    page.fill("#new-tenant input[name=slug]", slug)
    page.fill("#new-tenant input[name=name]", "New tenant")
    page.click("#new-tenant button[type=submit]")
    page.wait_for_url(f"{base}/tenants/{slug}")
    assert checklist(page) == dict.fromkeys(STEPS, False)
    next_link(page, "server").click()
    page.wait_for_url(f"{base}/tenants/{slug}#provision-form")
    assert page.locator("#provision-form button[type=submit]").is_visible()
    page.close()


def test_member_follows_only_the_checklist_to_a_working_mailbox(
    testbed, control_plane, converged_servers, served_plane, browser
):
    from controlplane import scope_of_admin, work
    from mailtest import Smtps, tls_context, wait_for_login

    from jobs.health import sweep_health
    from jobs.periodic import submit_per_tenant
    from mailfleet.settings import Settings
    from webapp.extensions import db
    from webapp.models import Mailbox
    from webapp.services import accounts, lifecycle

    server = converged_servers("mb")
    base, slug = served_plane, server.tenant.slug
    member, password = f"owner@{server.zone}", secrets.token_urlsafe(16)
    accounts.add_member(scope_of_admin(), server.tenant, member, password)
    address = f"{LOCAL_PART}@{server.zone}"
    page = login(browser, base, member, password)
    try:
        page.click("nav a:has-text('My tenant')")
        page.wait_for_url(f"{base}/tenants/{slug}")
        shoot(page, "first-steps")
        steps = checklist(page)
        assert steps == {**dict.fromkeys(STEPS, False), "server": True, "domain": True}, steps

        # 3. DNS: the link opens the domain's DNS check; "Check again" queues the doctor.
        next_link(page, "dns").click()
        page.wait_for_selector("#dns-check-form")
        page.click("#dns-check-form button[type=submit]")
        page.wait_for_selector("#dns-waiting")  # queued: the page refreshes until the result is in
        work_system_jobs(control_plane["app"])
        page.wait_for_selector("#dns-waiting", state="detached", timeout=WAIT_MS)
        shoot(page, "first-steps-dns")
        assert page.locator("#dns-refusal").count() == 0, page.inner_text("main")[:3000]
        page.click(f"h1 a[href='/tenants/{slug}']")
        page.wait_for_url(f"{base}/tenants/{slug}")
        assert checklist(page)["dns"], page.inner_text("#first-steps")

        # 4. Mailboxes: the link lands on the form; its password is shown once.
        next_link(page, "mailboxes").click()
        page.wait_for_url(f"{base}/tenants/{slug}#mailbox-form")
        page.select_option("#mailbox-form select[name=domain_id]", label=server.zone)
        page.fill("#mailbox-form textarea[name=local_parts]", LOCAL_PART)
        page.click("#mailbox-form button[type=submit]")
        page.wait_for_selector("#created-mailboxes, .flash.error, #not-created")
        assert page.locator(".flash.error, #not-created").count() == 0, page.inner_text("main")[:3000]
        row = page.locator("#created-mailboxes tbody tr", has_text=address)
        mailbox_password = row.locator("code").inner_text().strip()
        assert mailbox_password and mailbox_password != "(set by you)", row.inner_text()

        # 5. The test message: the link opens the guide's section, which says what to do.
        page.click(f"a:has-text('Back to {slug}')")
        page.wait_for_url(f"{base}/tenants/{slug}#mailboxes")
        assert checklist(page) == {**dict.fromkeys(STEPS, True), "test-message": False}
        # The tenant page's setup times count it: every mailbox asked for was created.
        created = page.inner_text("#setup-created")
        assert re.fullmatch(r"(\d+) of \1 asked for", created), created
        next_link(page, "test-message").click()
        page.wait_for_url(re.compile(r".*/help/getting-started/#step-test-message$"))
        assert page.locator("#step-test-message").is_visible()
        context = tls_context(testbed)
        wait_for_login(server, context, address, mailbox_password)
        with Smtps(server.host.address, server.mail_host, context) as smtp:
            smtp.login(address, mailbox_password)
            message = f"From: {address}\r\nTo: {address}\r\nSubject: first\r\n\r\nHello.\r\n"
            smtp.sendmail(address, [address], message)
        assert delivered(server, context, address, mailbox_password), f"no test message reached {address}"
        # What the scheduler does: the facts run of the tenant, then a sweep reads its counts.
        facts_dir = Settings()["MAILFLEET_HEALTH_FACTS_DIR"]
        assert facts_dir, "the plane has no MAILFLEET_HEALTH_FACTS_DIR"
        facts_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        submit_per_tenant("health_facts", {"health_facts_dir": str(facts_dir)}, tenant_ids={server.tenant.id})
        work(control_plane["app"], workers=2)  # worker threads: this thread runs the browser's loop
        beside_the_browser(sweep_health, server.server_id)
        page.goto(f"{base}/tenants/{slug}")
        assert page.locator("#first-steps").count() == 0, page.inner_text("#first-steps")
        shoot(page, "first-steps-done")
    finally:
        page.close()
        db.session.expire_all()
        made = db.session.query(Mailbox).filter_by(email=address).one_or_none()
        if made is not None:
            lifecycle.delete_mailbox(scope_of_admin(), server.tenant, made.id, address)
