"""The run page in a real browser (Debian's Chromium through Playwright) against the app served by
waitress with few threads, as in production but smaller:

- more run pages open and live than the server has threads, and the rest of the app still answers;
- a run that fails (a small local playbook through the real runner bridge) shows, without a reload,
  its failed host, task and message at the top, a link to the failed line, its start, duration,
  and "Run again".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import Role, RunEvent, RunStatus, User
from webapp.services import accounts, runs, tenants
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, make_app

pytestmark = pytest.mark.browser

SERVER_THREADS = 4
# Generous: the point is that pages answer at all (a held thread never frees), not how fast.
PAGE_TIMEOUT_MS = 90_000
ADMIN = "admin@example.com"
FAILING_PLAYBOOK = """\
- name: A play that fails on its second task
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Check the disk
      ansible.builtin.fail:
        msg: the disk is full (on purpose)
"""


class Served:
    def __init__(self, app: Flask, url: str) -> None:
        self.app = app
        self.url = url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    from waitress import create_server

    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "site.yml").write_text(FAILING_PLAYBOOK)
    app = make_app(
        tmp_path,
        SESSION_COOKIE_SECURE=False,  # plain http on loopback, like the demo
        REMEMBER_COOKIE_SECURE=False,
        MAILFLEET_PLAYBOOK_DIR=playbooks,
    )
    with app.app_context():
        admin = accounts.create_user(ADMIN, TEST_PASSWORD, Role.ADMIN, None)
        tenants.create_tenant(Scope(admin), "acme", "Acme Corp")
        db.session.remove()
    server = create_server(app, host="127.0.0.1", port=0, threads=SERVER_THREADS)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield Served(app, f"http://127.0.0.1:{server.effective_port}")
    server.close()
    server.task_dispatcher.shutdown(timeout=5)
    with app.app_context():
        db.engine.dispose()


def logged_in_state(browser, base: str) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    state = context.storage_state()
    context.close()
    return state


def new_run(app: Flask, status: RunStatus = RunStatus.QUEUED) -> int:
    with app.app_context():
        admin = db.session.execute(select(User).where(User.email == ADMIN)).scalar_one()
        scope = Scope(admin)
        run = runs.submit_run(scope, scope.tenant("acme"), "site")
        if status == RunStatus.RUNNING:
            run.status, run.started_at = status, utcnow() - timedelta(seconds=3)
            db.session.commit()
        run_id = run.id
        db.session.remove()
        return run_id


def test_more_live_run_pages_than_server_threads_leave_the_app_answering(served, browser):
    run_id = new_run(served.app, RunStatus.RUNNING)
    state = logged_in_state(browser, served.url)
    pages = []
    for _ in range(SERVER_THREADS * 2):  # each in its own context: no shared browser connection pool
        page = browser.new_context(storage_state=state).new_page()
        page.goto(f"{served.url}/runs/{run_id}", timeout=PAGE_TIMEOUT_MS)
        pages.append(page)
    from playwright.sync_api import expect

    for page in pages:  # live: the elapsed time shows and keeps counting
        expect(page.locator("#run-duration")).not_to_have_text("—", timeout=PAGE_TIMEOUT_MS)
    elapsed = pages[0].inner_text("#run-duration")
    expect(pages[0].locator("#run-duration")).not_to_have_text(elapsed, timeout=PAGE_TIMEOUT_MS)

    other = browser.new_context(storage_state=state).new_page()
    response = other.goto(f"{served.url}/runs", timeout=PAGE_TIMEOUT_MS)
    assert response.status == 200 and other.locator(f"a[href='/runs/{run_id}']").count() == 1

    # Every open page is still live: a new line reaches all of them.
    with served.app.app_context():
        db.session.add(RunEvent(run_id=run_id, counter=1, event="runner_on_ok", stdout="ok: [mf-acme-1]"))
        db.session.commit()
        db.session.remove()
    for page in pages:
        page.wait_for_selector("#ev-1", timeout=PAGE_TIMEOUT_MS)


def test_failed_run_shows_where_it_failed_without_a_reload(served, browser):
    from jobs.app import use_app
    from jobs.execute import execute_run

    run_id = new_run(served.app)
    page = browser.new_context(storage_state=logged_in_state(browser, served.url)).new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{served.url}/runs/{run_id}")
    assert page.inner_text("#run-status") == "queued"
    assert not page.is_visible("#retry-form") and not page.is_visible("#run-failure")

    use_app(served.app)
    try:
        worker = threading.Thread(target=execute_run, args=(run_id,))
        worker.start()
        page.wait_for_selector("#run-status .badge.s-failed", timeout=120_000)
        worker.join(timeout=60)
    finally:
        use_app(None)

    assert page.is_visible("#run-failure")
    assert page.inner_text("#failure-host") == "localhost"
    assert page.inner_text("#failure-task") == "Check the disk"
    assert "the disk is full (on purpose)" in page.inner_text("#failure-message")
    assert page.inner_text("#run-started") != "—" and page.inner_text("#run-finished") != "—"
    assert page.inner_text("#run-duration-label") == "Duration" and page.inner_text("#run-duration") != "—"
    assert page.is_visible("#retry-form button") and not page.is_visible("#cancel-form")
    assert "PLAY RECAP" in page.inner_text("#log")
    page.click("#failure-link")
    target = page.evaluate("location.hash")
    assert target.startswith("#ev-")
    assert "the disk is full (on purpose)" in page.inner_text(target)
