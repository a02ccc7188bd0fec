"""The run page and its live answers: the event cursor and poll hint, the live fields, where a
failed run failed (host, task, message, a link to the line); system runs' label and filter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from mailfleet.clock import utcnow
from webapp.extensions import db
from webapp.models import RunEvent, RunStatus
from webapp.services import accounts, runs
from webapp.services.dashboard import RECENT_RUNS
from webapp.services.scope import Scope
from webapp.testing import TEST_PASSWORD, login
from webapp.views.runs import FLOWING_POLL_MS, LIVE_EVENTS, QUIET_POLL_MS

pytestmark = pytest.mark.unit


def add_events(run, *events):
    db.session.add_all(
        RunEvent(run_id=run.id, counter=n, **fields) for n, fields in enumerate(events, start=1)
    )
    db.session.commit()


def ok(stdout, host="mf-acme-1", task="Gather facts"):
    return {"event": "runner_on_ok", "stdout": stdout, "host_name": host, "task": task}


def failed_task(host, task, msg):
    return {
        "event": "runner_on_failed",
        "failed": True,
        "host_name": host,
        "task": task,
        "stdout": f'fatal: [{host}]: FAILED! => {{"msg": "{msg}"}}',
        "event_data": {"host": host, "task": task, "res": {"msg": msg, "changed": False}},
    }


def recap_failed(host):
    return {"event": "playbook_on_stats", "failed": True, "stdout": f"PLAY RECAP\n{host} : failed=1"}


def finish(run, status, rc=None, recap=None):
    run.status, run.rc, run.recap = status, rc, recap
    run.started_at = run.started_at or utcnow() - timedelta(seconds=42)
    run.finished_at = utcnow()
    if status == RunStatus.FAILED:
        run.failure_reason = f"ansible-playbook exited with rc {rc}"
    db.session.commit()


def test_live_answers_events_after_the_cursor_and_when_to_ask_again(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    login(client, world.alice.email, TEST_PASSWORD)

    queued = client.get(f"/runs/{run.id}/live?after=0").get_json()
    assert queued["events"] == [] and queued["after"] == 0
    assert queued["run"]["status"] == "queued" and queued["run"]["started_at"] is None
    assert queued["next_poll_ms"] == QUIET_POLL_MS

    run.status, run.started_at = RunStatus.RUNNING, utcnow() - timedelta(seconds=5)
    db.session.commit()
    add_events(run, ok("line 1"), ok("line 2"))
    running = client.get(f"/runs/{run.id}/live?after=0").get_json()
    assert [e["stdout"] for e in running["events"]] == ["line 1", "line 2"] and running["after"] == 2
    assert running["run"]["started_at"] and running["run"]["duration_seconds"] >= 5
    assert running["run"]["finished"] is False and running["next_poll_ms"] == FLOWING_POLL_MS
    resumed = client.get(f"/runs/{run.id}/live?after=1").get_json()
    assert [e["stdout"] for e in resumed["events"]] == ["line 2"]
    nothing_new = client.get(f"/runs/{run.id}/live?after=2").get_json()
    assert nothing_new["events"] == [] and nothing_new["after"] == 2
    assert nothing_new["next_poll_ms"] == QUIET_POLL_MS  # a long task: ask less often

    finish(run, RunStatus.SUCCESSFUL, 0, {"mf-acme-1": {"ok": 2}})
    done = client.get(f"/runs/{run.id}/live?after=2")
    assert done.headers["Cache-Control"] == "no-store"
    done = done.get_json()
    assert done["next_poll_ms"] is None  # nothing will change: the page stops asking
    assert done["run"]["finished"] and done["run"]["recap"] == {"mf-acme-1": {"ok": 2}}
    assert done["run"]["finished_at"] and done["run"]["failure"] is None


def test_live_says_ask_again_at_once_while_more_events_wait(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    finish(run, RunStatus.SUCCESSFUL, 0)
    add_events(run, *[ok(f"line {n}") for n in range(LIVE_EVENTS + 3)])
    login(client, world.admin.email, TEST_PASSWORD)
    first = client.get(f"/runs/{run.id}/live?after=0").get_json()
    assert len(first["events"]) == LIVE_EVENTS and first["next_poll_ms"] == 0
    rest = client.get(f"/runs/{run.id}/live?after={first['after']}").get_json()
    assert len(rest["events"]) == 3 and rest["next_poll_ms"] is None


def test_live_is_tenant_scoped_and_checks_the_cursor(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    login(client, world.bob.email, TEST_PASSWORD)
    assert client.get(f"/runs/{run.id}/live?after=0").status_code == 404
    login(client, world.alice.email, TEST_PASSWORD)
    assert client.get(f"/runs/{run.id}/live?after=x").status_code == 400


def test_running_run_page_has_run_again_ready_and_elapsed(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    run.status, run.started_at = RunStatus.RUNNING, utcnow() - timedelta(seconds=75)
    run.worker_host = "worker-2"
    db.session.commit()
    login(client, world.alice.email, TEST_PASSWORD)
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert '<dd id="run-worker">worker-2</dd>' in page  # the machine whose worker runs it
    # Run again is on the page already (hidden), so it shows the moment the run ends.
    assert 'id="retry-form" hidden' in page and 'id="cancel-form" >' in page
    assert 'id="run-duration-label">Elapsed' in page and re.search(r">1 min \d+ s<", page)
    assert f'data-live="/runs/{run.id}/live"' in page and 'id="run-failure" hidden' in page


def test_failed_run_shows_host_task_and_message_first_with_a_link_to_the_line(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    add_events(
        run,
        ok("TASK [Gather facts]"),
        failed_task("mf-acme-1", "Install postfix", "No package matching 'postfixx' is available"),
        failed_task("mf-acme-2", "Install postfix", "a later failure"),
        recap_failed("mf-acme-1"),
    )
    finish(run, RunStatus.FAILED, 2, {"mf-acme-1": {"failed": 1}})
    login(client, world.alice.email, TEST_PASSWORD)

    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    summary = page[page.index('id="run-failure"') : page.index('class="card run-head"')]
    assert "hidden" not in summary.split(">")[0]
    assert ">mf-acme-1<" in summary and ">Install postfix<" in summary
    assert "No package matching &#39;postfixx&#39; is available" in summary
    assert 'href="#ev-2"' in summary and 'id="ev-2"' in page

    live = client.get(f"/runs/{run.id}/live?after=4").get_json()["run"]
    assert live["failure"] == {
        "host": "mf-acme-1",
        "task": "Install postfix",
        "message": "No package matching 'postfixx' is available",
        "counter": 2,
    }
    token = accounts.issue_api_token(world.alice)
    api = client.get(f"/api/v1/runs/{run.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert api["failure"]["host"] == "mf-acme-1" and api["failure"]["counter"] == 2


def test_failure_before_any_task_shows_ansibles_error(client, world):
    run = runs.submit_run(Scope(world.admin), world.acme, "site")
    add_events(
        run,
        {"event": "verbose", "stdout": "ERROR! 'mailfleet_domains' is undefined"},
    )
    finish(run, RunStatus.FAILED, 1)
    failure = runs.first_failure(run)
    assert failure.host is None and failure.counter == 1
    assert failure.message == "ERROR! 'mailfleet_domains' is undefined"


def test_system_runs_have_their_own_label_and_filter(client, world):
    by_alice = runs.submit_run(Scope(world.alice), world.acme, "site")
    system = [
        runs.submit_run(Scope.system(), world.acme, "health_facts", extravars={"health_facts_dir": "/x"})
        for _ in range(RECENT_RUNS + 1)  # enough to push every person's run off a plain recent list
    ]
    login(client, world.alice.email, TEST_PASSWORD)

    def rows(url):
        page = client.get(url).get_data(as_text=True)
        return {int(n) for n in re.findall(r'<td><a href="/runs/(\d+)">', page)}, page

    everything, page = rows("/runs")
    assert everything == {by_alice.id, *(r.id for r in system)}
    assert 'id="trigger-tabs"' in page and ">By users<" in page and ">System<" in page
    assert page.count('class="badge system"') == len(system)
    assert rows("/runs?trigger=user")[0] == {by_alice.id}
    assert rows("/runs?trigger=schedule")[0] == {r.id for r in system}
    assert client.get("/runs?trigger=cron").status_code == 400
    # The dashboard and the tenant page list people's runs; system runs are one link away.
    for url in ("/", "/tenants/acme"):
        shown, page = rows(url)
        assert shown == {by_alice.id} and "trigger=schedule" in page
    detail = client.get(f"/runs/{system[0].id}").get_data(as_text=True)
    assert "the scheduler (a system run)" in detail

    api = {"Authorization": f"Bearer {accounts.issue_api_token(world.alice)}"}
    listed = client.get("/api/v1/runs?trigger=schedule", headers=api).get_json()
    assert {r["id"] for r in listed} == {r.id for r in system}
    assert {r["trigger"] for r in listed} == {"schedule"}
    assert [r["id"] for r in client.get("/api/v1/runs?trigger=user", headers=api).get_json()] == [by_alice.id]
    assert client.get("/api/v1/runs?trigger=cron", headers=api).status_code == 422


def _statements(client, path: str) -> int:
    """How many SQL statements the page at `path` runs."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, *_):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_run_list_and_dashboard_queries_do_not_grow_with_the_tenants_shown(as_admin, world):
    from webapp.models import Run, RunTrigger
    from webapp.services import tenants

    def runs_of_new_tenants(first: int, count: int) -> None:
        for n in range(first, first + count):
            tenant = tenants.create_tenant(Scope(world.admin), f"tenant-{n}", f"Tenant {n}")
            db.session.add(Run(tenant_id=tenant.id, playbook="site.yml", trigger=RunTrigger.USER,
                               status=RunStatus.SUCCESSFUL, created_at=utcnow(), event_count=0))
        db.session.commit()

    runs_of_new_tenants(0, 2)
    before = {path: _statements(as_admin, path) for path in ("/runs", "/")}
    runs_of_new_tenants(2, 8)  # each page now lists runs of 10 tenants
    after = {path: _statements(as_admin, path) for path in ("/runs", "/")}
    assert after == before
