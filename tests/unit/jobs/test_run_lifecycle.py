"""Cancel, a worker killed with SIGKILL, one run per tenant+playbook, duplicate submissions,
and runs Redis forgot: each ends in a defined state with no ansible process left."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from jobs import locks, processes
from jobs.bridge import run_marker
from jobs.execute import execute_run
from jobs.reaper import reap, reconcile_queue
from mailfleet.clock import utcnow
from mailfleet.procfs import descendants
from webapp.extensions import db
from webapp.models import Run, RunEvent, RunLock, RunStatus, RunTrigger
from webapp.queue import get_queue
from webapp.services import runs

pytestmark = pytest.mark.unit


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def fresh(run_id: int) -> Run:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Run, run_id)


def sleeping(run_id: int) -> bool:
    """The slow play reached its `sleep 60` task."""
    db.session.rollback()
    return bool(
        db.session.execute(
            select(RunEvent.id).where(
                RunEvent.run_id == run_id, RunEvent.task == "Sleep", RunEvent.event == "runner_on_start"
            )
        ).first()
    )


@pytest.mark.parametrize("playbook_flavour", ["slow"])
def test_cancel_stops_ansible_and_leaves_no_process(app, scope, acme, work, tmp_path):
    run = runs.submit_run(scope, acme, "site")

    def cancel_when_sleeping() -> None:
        with app.app_context():
            wait_for(lambda: sleeping(run.id), what="the sleep task")
            runs.cancel_run(scope, run.id)

    canceller = threading.Thread(target=cancel_when_sleeping)
    canceller.start()
    work()
    canceller.join()
    run = fresh(run.id)
    assert run.status == RunStatus.CANCELED
    assert run.failure_reason == "canceled by a user"
    # Stopped mid-task: the 60 s sleep never reported its end.
    finished_tasks = db.session.scalars(
        select(RunEvent.task).where(RunEvent.run_id == run.id, RunEvent.event == "runner_on_ok")
    ).all()
    assert "Sleep" not in finished_tasks
    assert run.child_pid
    assert processes.run_processes(run.child_pid, run_marker(tmp_path / "runs", run.id)) == []
    assert db.session.get(RunLock, (acme.id, "site.yml")) is None


def test_cancel_of_a_queued_run_is_immediate(scope, acme, work):
    run = runs.submit_run(scope, acme, "site")
    runs.cancel_run(scope, run.id)
    assert run.status == RunStatus.CANCELED
    work()  # the job finds the run canceled and does nothing
    assert fresh(run.id).status == RunStatus.CANCELED
    assert db.session.execute(select(RunEvent.id).where(RunEvent.run_id == run.id)).first() is None


@pytest.mark.parametrize("playbook_flavour", ["slow"])
def test_sigkilled_worker_is_reaped_and_its_ansible_killed(app, scope, acme, tmp_path):
    run = runs.submit_run(scope, acme, "site")
    db.engine.dispose()
    pid = os.fork()
    if pid == 0:  # the work-horse
        try:
            db.engine.dispose(close=False)
            execute_run(run.id)
        finally:
            os._exit(0)
    wait_for(lambda: sleeping(run.id), what="the sleep task")
    child = fresh(run.id).child_pid
    assert processes.run_processes(child, run_marker(tmp_path / "runs", run.id)), "ansible should be running"
    # Ansible's fork (a session of its own) and the task's `sleep` under it, which name no run.
    # The task's start event is stored before its module has started the `sleep` (seconds under load).

    def with_the_sleep() -> list[int]:
        pids = descendants(child)
        return pids if any(processes.cmdline(p).startswith("sleep ") for p in pids) else []

    started = wait_for(with_the_sleep, what="the task's sleep process")
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    # ansible-playbook runs in its own session: killing the horse leaves it running (the trap).
    assert processes.run_processes(child, run_marker(tmp_path / "runs", run.id))
    # The lease (5 s in tests) expires; the reaper (every minute in production) then acts.
    wait_for(lambda: fresh(run.id).lease_expires_at < utcnow(), timeout=15, what="lease expiry")
    assert reap()["lost"] == 1
    run = fresh(run.id)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason.startswith("worker lost")
    assert processes.run_processes(child, run_marker(tmp_path / "runs", run.id)) == []
    assert [pid for pid in started if processes.alive(pid)] == []  # not even the task's `sleep`
    assert db.session.get(RunLock, (acme.id, "site.yml")) is None
    assert list((tmp_path / "runs").iterdir()) == []  # the dead horse's private directory is gone
    # A retry is offered and queued.
    retry = runs.retry_run(scope, run.id)
    assert retry.retry_of_id == run.id and retry.status == RunStatus.QUEUED
    assert (retry.catalogue_key, retry.trigger) == (run.catalogue_key, RunTrigger.USER)


def test_a_domain_run_is_retried_as_a_domain_run(scope, acme):
    """Two catalogue entries share site.yml; the run remembers which one it was."""
    first = runs.submit_run(scope, acme, "domain", extravars={"mailfleet_domains": ["acme.example.test"]})
    db.session.execute(update(Run).where(Run.id == first.id).values(status=RunStatus.FAILED))
    db.session.commit()
    retry = runs.retry_run(scope, first.id)
    assert retry.catalogue_key == "domain" and retry.extravars == first.extravars
    assert retry.trigger == RunTrigger.USER and first.playbook == retry.playbook == "site.yml"


def test_one_run_per_tenant_and_playbook_others_wait(scope, acme, globex, work):
    first = runs.submit_run(scope, acme, "site")
    second = runs.submit_run(scope, acme, "site")
    other_tenant = runs.submit_run(scope, globex, "site")
    # Pretend `first` is running: it holds the lock.
    assert locks.claim(first.id) is not None
    work()
    assert fresh(second.id).status == RunStatus.WAITING
    assert fresh(other_tenant.id).status == RunStatus.SUCCESSFUL  # other tenants are not held up
    # Releasing hands the turn to the waiting run.
    db.session.execute(update(Run).where(Run.id == first.id).values(status=RunStatus.SUCCESSFUL))
    db.session.commit()
    locks.release(fresh(first.id))
    work()
    assert fresh(second.id).status == RunStatus.SUCCESSFUL, fresh(second.id).failure_reason


def test_duplicate_submission_makes_one_run(scope, acme):
    first = runs.submit_run(scope, acme, "site", submission_key="form-1234abcd")
    again = runs.submit_run(scope, acme, "site", submission_key="form-1234abcd")
    assert again.id == first.id
    assert db.session.execute(select(Run.id)).scalars().all() == [first.id]
    assert get_queue().count == 1


def test_runs_redis_forgot_are_enqueued_again(app, scope, acme, work):
    queued = [runs.submit_run(scope, acme, "site"), runs.submit_run(scope, acme, "site")]
    app.config["REDIS_CONNECTION"].flushall()  # Redis lost its data
    assert get_queue().count == 0
    assert reconcile_queue() == 0  # within the grace period: left alone
    db.session.execute(update(Run).values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert reconcile_queue() == 2
    assert reconcile_queue() == 0  # the jobs are now known: nothing doubled
    work()
    assert [fresh(r.id).status for r in queued] == [RunStatus.SUCCESSFUL, RunStatus.SUCCESSFUL]


def test_a_job_stranded_between_taken_and_started_is_put_back_on_the_queue(app, scope, acme, work):
    """A worker moved the job to RQ's intermediate queue and lost Redis before starting it (what a
    failover can leave): it reads "queued" but no worker would take it."""
    run = runs.submit_run(scope, acme, "site")
    queue = get_queue()
    redis = app.config["REDIS_CONNECTION"]
    intermediate = queue.intermediate_queue
    assert redis.lmove(queue.key, intermediate.key) == run.job_id.encode()
    assert reconcile_queue() == 0  # first seen: a live worker may be starting it this instant
    assert queue.count == 0 and intermediate.get_job_ids() == [run.job_id]
    redis.set(intermediate.get_first_seen_key(run.job_id), utcnow().timestamp() - 61)  # a minute on
    assert reconcile_queue() == 1
    assert queue.job_ids == [run.job_id] and intermediate.get_job_ids() == []
    assert reconcile_queue() == 0  # back on the queue once, not twice
    work()
    assert fresh(run.id).status == RunStatus.SUCCESSFUL, fresh(run.id).failure_reason
    assert queue.count == 0


def test_job_raising_marks_run_failed_and_job_failed(app, scope, acme, work, monkeypatch):
    import jobs.execute

    def broken(_run):
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs.execute, "_execute", broken)
    run = runs.submit_run(scope, acme, "site")
    work()
    run = fresh(run.id)
    assert run.status == RunStatus.FAILED
    assert run.failure_reason == "internal error: RuntimeError: boom"
    assert get_queue().failed_job_registry.count == 1


def _lose(run_id: int, host: str = "a-machine-that-is-gone") -> None:
    """The run is RUNNING on a machine that stopped renewing its lease."""
    db.session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(
            status=RunStatus.RUNNING,
            worker_host=host,
            heartbeat_at=utcnow() - timedelta(minutes=3),
            lease_expires_at=utcnow() - timedelta(minutes=2),
        )
    )
    db.session.commit()


def test_a_run_lost_with_its_machine_is_retried_once_where_the_catalogue_allows(scope, acme, work):
    site = runs.submit_run(scope, acme, "site")
    provision = runs.submit_run(
        scope, acme, "provision", extravars={"mailfleet_tenant": "acme", "server_index": 1}
    )
    get_queue().empty()
    _lose(site.id)
    _lose(provision.id)
    assert reap()["lost"] == 2
    assert fresh(site.id).status == fresh(provision.id).status == RunStatus.FAILED
    retries = db.session.scalars(select(Run).where(Run.retry_of_id.is_not(None))).all()
    assert [(r.retry_of_id, r.catalogue_key, r.trigger) for r in retries] == [
        (site.id, "site", RunTrigger.SCHEDULE)  # provision.yml orders a server: never on its own
    ]
    work()
    assert fresh(retries[0].id).status == RunStatus.SUCCESSFUL
    # A retry lost in its turn is left to people.
    lost_retry = runs.submit_run(scope, acme, "site", retry_of=fresh(site.id))
    get_queue().empty()
    _lose(lost_retry.id)
    assert reap()["lost"] == 1
    assert db.session.scalars(select(Run.id).where(Run.retry_of_id == lost_retry.id)).all() == []
