"""A run whose work-horse is killed is failed ("worker lost") and its ansible-playbook killed while
every playbook worker is busy, the playbook queue is full and every system worker is held by a long
job: the Procfile's processes (playbook worker pool, system worker pool, reaper worker, one rq
cron) on the testbed's Redis, as `make demo` starts them."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
from polling import wait_for
from sqlalchemy import select

pytestmark = pytest.mark.testbed

SLOW_PLAY = """\
- name: A run that keeps its worker busy
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Sleep
      ansible.builtin.command: sleep 900
"""
PLAYBOOK_WORKERS = 2  # the Procfile's pool, made smaller so a few runs fill it
SYSTEM_WORKERS = 2  # the Procfile's system pool: each held by a long job (a slow sweep, say)


@pytest.fixture
def stack(testbed, repo_root, tmp_path, monkeypatch):
    from leftovers import fail_on_leftovers

    from jobs.app import use_app
    from testbed.daemons import start, stop
    from testbed.stack import Stack, expand, procfile
    from webapp.extensions import db
    from webapp.queue import get_queue, get_system_queue
    from webapp.testing import make_app

    plays = tmp_path / "plays"
    plays.mkdir()
    (plays / "site.yml").write_text(SLOW_PLAY)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    suffix = uuid.uuid4().hex[:8]
    env = {
        **Stack(testbed, data).env(),
        "DATABASE_URL": f"sqlite:///{data / 'mailfleet.db'}",
        "MAILFLEET_QUEUE": f"mf-load-{suffix}",
        "MAILFLEET_SYSTEM_QUEUE": f"mf-load-system-{suffix}",
        "MAILFLEET_REAPER_QUEUE": f"mf-load-reaper-{suffix}",
        "MAILFLEET_PLAYBOOK_DIR": str(plays),
        "MAILFLEET_LEASE_SECONDS": "10",
    }
    env.pop("MAILFLEET_SITE_VARS_FILE")  # the slow play needs no site settings
    monkeypatch.delenv("MAILFLEET_SITE_VARS_FILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = make_app(
        data,
        REDIS_CONNECTION=None,
        REDIS_URL=testbed.redis_url,
        SECRET_STORE=None,  # the store the worker processes see
        MAILFLEET_QUEUE=env["MAILFLEET_QUEUE"],
        MAILFLEET_SYSTEM_QUEUE=env["MAILFLEET_SYSTEM_QUEUE"],
        MAILFLEET_PLAYBOOK_DIR=plays,
    )
    use_app(app)
    commands = procfile()
    commands["worker"] = commands["worker"].replace("--num-workers 4", f"--num-workers {PLAYBOOK_WORKERS}")
    started = {}
    with app.app_context():
        try:
            for name in ("worker", "system", "reaper", "cron"):
                started[name] = start(
                    expand(commands[name], env), log=data / f"{name}.log", env=env, cwd=repo_root
                )
            yield app, data
        finally:
            # Each pool with its workers, work-horses and sleeping plays: a warm shutdown would
            # wait for the plays, and a pool killed alone would leave its workers taking jobs.
            for record in reversed(started.values()):
                stop(record, timeout=2)
            get_queue(app).delete(delete_jobs=True)
            get_system_queue(app).delete(delete_jobs=True)
            db.session.remove()
            db.engine.dispose()
            use_app(None)
            fail_on_leftovers(data)


def test_lost_run_is_failed_and_its_ansible_killed_while_the_playbook_queue_is_full(stack):
    from jobs import processes
    from jobs.bridge import run_marker
    from webapp.extensions import db
    from webapp.models import Role, Run, RunStatus
    from webapp.queue import get_queue, get_system_queue
    from webapp.services import accounts, runs, tenants
    from webapp.services.scope import Scope

    app, data = stack
    system_queue = get_system_queue(app)
    for _ in range(SYSTEM_WORKERS + 1):  # every system worker busy, one more job waiting
        system_queue.enqueue("time.sleep", 900, job_timeout=1200)
    scope = Scope(accounts.create_user("admin@example.com", "correct horse battery", Role.ADMIN, None))
    # One run per tenant (a tenant's runs of one playbook would wait for each other, not for a worker).
    ids = [
        runs.submit_run(scope, tenants.create_tenant(scope, f"load{i}", f"Load {i}"), "site").id
        for i in range(PLAYBOOK_WORKERS + 3)
    ]

    def running() -> list[Run]:
        db.session.rollback()
        finished = db.session.scalars(select(Run).where(Run.id.in_(ids), Run.finished_at.is_not(None)))
        assert [(r.id, r.failure_reason) for r in finished] == []
        return list(
            db.session.scalars(
                select(Run).where(
                    Run.id.in_(ids), Run.status == RunStatus.RUNNING, Run.child_pid.is_not(None)
                )
            )
        )

    busy = wait_for(lambda: len(running()) == PLAYBOOK_WORKERS and running(), 180, "busy workers")
    victim, other = busy[0], busy[1]
    marker = run_marker(data / "runs", victim.id)
    wait_for(lambda: processes.run_processes(victim.child_pid, marker), 60, "the victim's ansible")

    os.kill(victim.worker_pid, signal.SIGKILL)

    def reaped() -> bool:
        db.session.rollback()
        return db.session.get(Run, victim.id).status == RunStatus.FAILED

    wait_for(reaped, 150, "the reaper to fail the lost run")
    lost = db.session.get(Run, victim.id)
    assert lost.failure_reason.startswith("worker lost"), lost.failure_reason
    assert processes.run_processes(lost.child_pid, marker) == []
    # site.yml is safe to run again: the reaper retried it, and the retry waits for a worker.
    def retries() -> list[Run]:  # submitted just after the lost run is marked failed
        db.session.rollback()
        return list(db.session.scalars(select(Run).where(Run.retry_of_id == victim.id)))

    [retry] = wait_for(retries, 30, "the reaper's retry")
    assert retry.status in (RunStatus.QUEUED, RunStatus.WAITING)
    # All the while the playbook workers stayed busy and runs still waited for one of them.
    assert get_queue(app).count >= 1
    assert db.session.get(Run, other.id).status == RunStatus.RUNNING
    assert system_queue.count >= 1 and system_queue.started_job_registry.count == SYSTEM_WORKERS
    assert Path(f"/proc/{other.child_pid}").exists()
